"""The collector loop of one replica: leases, paging within rate limits, back-off, streams.

Every tick (the poll interval, or the lease renewal interval when shorter) the collector

1. reads the enabled queries; every (query, network) they cover is a *pair* to collect. When the set
   changed, or every ``renew`` seconds, it syncs its leases (:mod:`resonanz_listening.leases`): it
   renews what it holds, sheds pairs beyond its fair share and claims free or expired ones;
2. for each held pair in poll mode that is due (``poll_interval`` after its last poll, its
   ``backoff_until`` passed, not paused) it pages through ``network.search`` from the durable cursor,
   following ``next_cursor`` while pages come back full, up to ``page_budget`` pages, each page
   paid for with one token of the network's budget (:mod:`resonanz_listening.rate_budget`);
3. applies the whole query locally and stores each network's round in one transaction through the
   :class:`~resonanz_listening.ingest.Ingestor`, fenced by each pair's lease, together with the
   pairs' collection state (:mod:`resonanz_listening.collection_state`);
4. sends the outbox.

Errors: a 429 (``RateLimitedError``, or a ``TransientNetworkError`` with ``retry_after``) blocks the
whole network for ``retry_after`` (else exponential back-off with jitter, capped); another transient
error or a plugin bug backs the pair off exponentially; a permanent or authentication error pauses
the pair until the query is updated. The cursor is never moved by a failed call. Pairs whose network
offers ``Feature.STREAM`` are collected by :class:`~resonanz_listening.streams.StreamSupervisor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resonanz_sdk import metrics
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
    PermanentNetworkError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.network import Network, SearchRequest
from resonanz_sdk.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening import collection_state
from resonanz_listening.collection_state import CollectionStates, State
from resonanz_listening.ingest import Ingestor, RoundOutcome, SearchResult
from resonanz_listening.leases import Lease, LeaseManager, PairKey, default_replica_id, utcnow
from resonanz_listening.models import CursorRow, QueryRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_listening.pairs import (
    PairPoll,
    cancelling,
    count_error,
    local_match,
    networks_for,
    parse_cached,
    streams_for,
    uninterrupted,
)
from resonanz_listening.query import search_terms
from resonanz_listening.rate_budget import Budgets, backoff_delay
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore
from resonanz_listening.streams import StreamSupervisor

log = logging.getLogger(__name__)

#: Longest back-off of a failing (query, network), in seconds (default of the setting).
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class CollectorConfig:
    poll_interval: float
    renew_interval: float = 3.0
    page_budget: int = 10
    page_size: int = 100
    max_backoff: float = MAX_BACKOFF_SECONDS


class Collector:
    def __init__(
        self,
        *,
        store: ListeningStore,
        ingestor: Ingestor,
        relay: OutboxRelay,
        networks: Mapping[str, Network],
        signal: MentionSignal,
        leases: LeaseManager,
        states: CollectionStates,
        config: CollectorConfig,
        budgets: Budgets | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._ingestor = ingestor
        self._relay = relay
        self._networks = networks
        self._signal = signal
        self.leases = leases
        self._states = states
        self.config = config
        self.budgets = budgets or Budgets(networks, clock=clock)
        self._clock = clock
        self._now = now
        self._queries: dict[str, QueryRow] = {}
        self._wanted: dict[PairKey, str] = {}
        self._next_sync = 0.0
        self._last_poll: dict[PairKey, float] = {}
        self._gauged_networks: set[str] = set()
        self.streams = StreamSupervisor(self)

    @property
    def held(self) -> dict[PairKey, Lease]:
        return dict(self.leases.held)

    async def run(self, stopping: asyncio.Event) -> None:
        """Collect until ``stopping`` is set; a failed round never ends the loop.

        Cancelling the task is a crash: leases are not released (they expire). A graceful stop sets
        ``stopping`` and then calls :meth:`shutdown`.
        """
        tick = min(self.config.poll_interval, self.config.renew_interval)
        while not stopping.is_set():
            try:
                await self.collect_once()
            except Exception:
                if cancelling():
                    raise asyncio.CancelledError from None
                log.exception("listening collection round failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), tick)

    async def shutdown(self) -> None:
        """Graceful stop: end the streams and give every lease back at once."""
        await self.streams.stop_all()
        try:
            await self.leases.release_all()
        except Exception:
            log.exception("could not release the collection leases; they expire on their own")

    # -- one round -------------------------------------------------------------------------------

    async def sync_leases(self, force: bool = False) -> dict[PairKey, Lease]:
        queries = await self._store.enabled_queries()
        self._queries = {q.id: q for q in queries}
        wanted = {(q.id, n): q.tenant for q in queries for n in networks_for(q, self._networks)}
        changed = wanted.keys() != self._wanted.keys()
        self._wanted = wanted
        if force or changed or self._clock() >= self._next_sync:
            await uninterrupted(self.leases.sync(wanted))
            self.budgets.set_live_replicas(self.leases.live_replicas)
            self._next_sync = self._clock() + self.config.renew_interval
        held = {k: v for k, v in self.leases.held.items() if k in wanted}
        await self.streams.reconcile(
            {k: v for k, v in held.items() if streams_for(self._networks[k[1]])}, self._queries
        )
        return held

    async def collect_once(self) -> int:
        """One round over the pairs this replica holds; returns the number of new mentions stored."""
        held = await self.sync_leases()
        polled = {k: v for k, v in held.items() if not streams_for(self._networks[k[1]])}
        states = await self._states.load(polled)
        now = self._now()
        due: dict[str, list[Lease]] = {}
        for key, lease in sorted(polled.items(), key=lambda kv: self._last_poll.get(kv[0], 0.0)):
            state = states.get(key)
            if state is not None and (state.paused or (state.backoff_until and state.backoff_until > now)):
                continue
            if self._clock() - self._last_poll.get(key, float("-inf")) < self.config.poll_interval * 0.999:
                continue
            due.setdefault(key[1], []).append(lease)
        self._observe_backoff(polled, states, now)
        self._last_poll = {k: v for k, v in self._last_poll.items() if k in polled}
        cursors = await self._cursors([lease.key for leases in due.values() for lease in leases])
        totals = await asyncio.gather(
            *(self._collect_network(name, leases, cursors, states) for name, leases in due.items())
        )
        total = sum(totals)
        await uninterrupted(self._relay.try_flush())
        return total

    def _observe_backoff(
        self, polled: Mapping[PairKey, Lease], states: Mapping[PairKey, State], now: datetime
    ) -> None:
        """Set ``resonanz_collection_backed_off`` per network: held polled pairs backing off now."""
        counts = {network: 0 for _, network in polled}
        for key in polled:
            state = states.get(key)
            if state is not None and not state.paused and state.backoff_until and state.backoff_until > now:
                counts[key[1]] += 1
        for network in self._gauged_networks | counts.keys():
            metrics.COLLECTION_BACKED_OFF.labels(network=network).set(counts.get(network, 0))
        self._gauged_networks |= counts.keys()

    async def _cursors(self, keys: Sequence[PairKey]) -> dict[PairKey, str | None]:
        """The stored search cursors of ``keys`` (only the due pairs, not every query's)."""
        if not keys:
            return {}
        wanted = set(keys)
        async with self._ingestor.sessions() as session:
            rows = await session.execute(
                select(CursorRow.query_id, CursorRow.network, CursorRow.cursor).where(
                    CursorRow.query_id.in_(sorted({q for q, _ in wanted}))
                )
            )
            return {(q, n): c for q, n, c in rows if (q, n) in wanted}

    async def _collect_network(
        self,
        name: str,
        leases: Sequence[Lease],
        cursors: Mapping[tuple[str, str], str | None],
        states: Mapping[PairKey, State],
    ) -> int:
        polls: list[PairPoll] = []
        budget = self.budgets[name]
        for lease in leases:
            if budget.wait_time() > 0:
                break  # the network's budget for now is spent (or it answered 429): next round
            query = self._queries.get(lease.query_id)
            if query is None:
                continue
            self._last_poll[lease.key] = self._clock()
            poll = await self.poll_pair(lease, query, cursors.get(lease.key), states.get(lease.key))
            polls.append(poll)
        if polls:
            failed = any(poll.error is not None for poll in polls)
            metrics.COLLECTION_ROUNDS.labels(network=name, outcome="error" if failed else "ok").inc()
        elif budget.wait_time() > 0:  # pairs were due, but the budget is spent or a 429 blocks it
            metrics.COLLECTION_ROUNDS.labels(network=name, outcome="throttled").inc()
        return await uninterrupted(self.store_polls(name, polls, mode="poll"))

    async def poll_pair(
        self,
        lease: Lease,
        query: QueryRow,
        cursor: str | None,
        state: State | None,
        *,
        until_done: bool = False,
    ) -> PairPoll:
        """Page through the pair's search from ``cursor`` within the page budget and rate limit.

        ``until_done`` (a stream's catch-up) waits for budget instead of stopping when it is spent.
        """
        network = self._networks[lease.network]
        budget = self.budgets[lease.network]
        node = parse_cached(query.expression)
        terms = search_terms(node)
        poll = PairPoll(lease)
        size = self.config.page_size
        for _ in range(self.config.page_budget):
            if until_done:
                await budget.take()
            elif not budget.try_take():
                break
            request = SearchRequest(terms=terms, languages=tuple(query.languages), cursor=cursor, limit=size)
            try:
                page = await network.search(request)
            except NetworkError as exc:
                poll.error = exc
                poll.delay = self._failure_delay(lease.network, exc, state)
                if not until_done:  # a stream's catch-up error is counted once, by the stream
                    count_error(lease.network, exc)
                break
            except Exception as exc:  # a plugin bug: back off, never crash the loop
                log.exception("network %s failed searching query %s (a plugin bug)", lease.network, query.id)
                poll.error = exc
                poll.delay = self._failure_delay(lease.network, exc, state)
                if not until_done:
                    count_error(lease.network, exc)
                break
            budget.succeeded()
            poll.fetched += len(page.mentions)
            next_cursor = page.next_cursor if page.next_cursor is not None else cursor
            matched = [raw for raw in page.mentions if local_match(node, query.languages, raw)]
            poll.results.append(
                SearchResult(
                    query_id=query.id,
                    tenant=query.tenant,
                    label=query.label,
                    network=lease.network,
                    cursor=next_cursor,
                    mentions=matched,
                    fence=lease.fence(),
                    expression=query.expression,
                )
            )
            full = len(page.mentions) >= size
            if not full or next_cursor == cursor:
                poll.caught_up = True
                break
            cursor = next_cursor
        return poll

    def _failure_delay(self, network: str, exc: Exception, state: State | None) -> float | None:
        """Seconds to back off after ``exc`` (network-wide for 429s); ``None`` pauses the pair."""
        cfg = self.config
        if isinstance(exc, PermanentNetworkError | AuthenticationFailedError):
            return None
        budget = self.budgets[network]
        failures = (state.failures if state is not None else 0) + 1
        if isinstance(exc, RateLimitedError) or (
            isinstance(exc, TransientNetworkError) and exc.retry_after is not None
        ):
            retry_after = exc.retry_after if isinstance(exc, TransientNetworkError) else None
            delay = backoff_delay(
                budget.failures + 1, base=cfg.poll_interval, cap=cfg.max_backoff, retry_after=retry_after
            )
            budget.rate_limited(delay)
            return delay
        return backoff_delay(failures, base=cfg.poll_interval, cap=cfg.max_backoff)

    async def store_polls(self, network: str, polls: Sequence[PairPoll], *, mode: str) -> int:
        """Store the polls of one network in one transaction, with each pair's collection state."""
        if not polls:
            return 0
        results = [r for poll in polls for r in poll.results]
        now = self._now()

        async def record(session: AsyncSession, outcome: RoundOutcome) -> None:
            for poll in polls:
                lease = poll.lease
                if lease.key in outcome.fenced_out:
                    continue
                if not poll.results and not await lease.fence().holds(session):
                    outcome.fenced_out.add(lease.key)
                    continue
                collected = outcome.new_by_query.get(lease.key, 0)
                if poll.error is None:
                    await collection_state.record_success(
                        session, lease.key, lease.tenant, mode=mode, polled_at=now, collected=collected
                    )
                    continue
                await collection_state.record_failure(
                    session,
                    lease.key,
                    lease.tenant,
                    mode=mode,
                    polled_at=now,
                    error=_describe(poll.error),
                    backoff_until=None if poll.delay is None else now + timedelta(seconds=poll.delay),
                    paused=poll.delay is None,
                )
                if collected:
                    await collection_state.add_collected(session, lease.key, collected)

        outcome = await self._ingestor.store_round(results, collected_at=now, extra=record)
        for key in outcome.fenced_out:
            log.warning("lost the lease of query %s on %s; its round was dropped", *key)
            self.leases.held.pop(key, None)
        for name, count in outcome.new_by_network.items():
            metrics.MENTIONS_COLLECTED.labels(network=name).inc(count)
        total = sum(outcome.new_by_network.values())
        if total:
            self._signal.notify()
        for poll in polls:
            if poll.error is not None:
                _log_failure(network, poll)
        return total


def _describe(exc: Exception) -> str:
    if isinstance(exc, NetworkError):
        return f"{type(exc).__name__}: {exc}"
    return f"plugin error {type(exc).__name__}: {exc}"


def _log_failure(network: str, poll: PairPoll) -> None:
    if poll.delay is None:
        log.warning(
            "network %s: query %s paused after %s (update the query to resume)",
            network,
            poll.lease.query_id,
            _describe(poll.error or Exception()),
        )
    else:
        log.warning(
            "network %s: query %s backs off %.1fs after %s",
            network,
            poll.lease.query_id,
            poll.delay,
            _describe(poll.error or Exception()),
        )


def build_collector(
    settings: Settings,
    sessions: async_sessionmaker[Any],
    *,
    store: ListeningStore,
    ingestor: Ingestor,
    relay: OutboxRelay,
    networks: Mapping[str, Network],
    signal: MentionSignal,
    budgets: Budgets | None = None,
) -> Collector:
    """The collector of a replica, configured from the settings (replica id, leases, paging)."""
    replica_id = settings.replica_id or default_replica_id()
    return Collector(
        store=store,
        ingestor=ingestor,
        relay=relay,
        networks=networks,
        signal=signal,
        leases=LeaseManager(sessions, replica_id, ttl=settings.lease_ttl_seconds),
        states=CollectionStates(sessions),
        budgets=budgets,
        config=CollectorConfig(
            poll_interval=settings.poll_interval_seconds,
            renew_interval=settings.lease_renew_seconds,
            page_budget=settings.listening_page_budget,
            page_size=settings.listening_page_size,
            max_backoff=settings.listening_max_backoff_seconds,
        ),
    )


__all__ = ["Collector", "CollectorConfig", "PairPoll", "build_collector", "local_match", "networks_for"]
