"""Historical backfill: jobs that page a query's networks through a past time range.

A job (``listening_backfills``) covers ``[since, until)`` on some networks; each network has a
progress row (``listening_backfill_networks``: cursor, reached, fetched, collected, state, error).
The :class:`BackfillRunner` of every replica claims jobs with the same conditional-UPDATE lease as
collection (owner, ``lease_expires_at``, fencing ``generation``), at most ``concurrency`` at a time,
and renews its leases while it works. Each page goes through the same
:class:`~resonanz_listening.ingest.Ingestor` as live collection (so a backfilled mention already
collected live, or by another backfill, is stored and sent to ``mentions.raw`` once), in one
transaction with the network's new progress, fenced by the job lease and ``state = RUNNING``: a
replica that lost the job, or a job cancelled meanwhile, writes nothing. A replica that dies leaves
the job to another, which resumes each network from its stored cursor.

Progress of a network is ``(reached - since) / (until - since)``, where ``reached`` is the newest
``published_at`` seen so far (pages come oldest first) and becomes ``until`` when the network has
nothing more; the job's progress is the mean over its networks. Pages are paid for from the same
per-network budget as live collection (:mod:`resonanz_listening.rate_budget`); a 429 or transient
error waits (``retry_after`` or exponential back-off) and retries the same cursor; a permanent or
authentication error fails that network. The job succeeds when every network did, and fails
(with every network's error) when one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_sdk import metrics
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
    NotFoundError,
    PermanentNetworkError,
    TransientNetworkError,
)
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network, SearchRequest
from resonanz_sdk.settings import Settings
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening.collection_models import BackfillNetworkRow, BackfillRow
from resonanz_listening.convert import aware
from resonanz_listening.ingest import Ingestor, RoundOutcome, SearchResult
from resonanz_listening.leases import utcnow
from resonanz_listening.models import QueryRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_listening.pairs import cancelling, count_error, local_match, parse_cached, uninterrupted
from resonanz_listening.query import search_terms
from resonanz_listening.rate_budget import Budgets, backoff_delay
from resonanz_listening.signal import MentionSignal

log = logging.getLogger(__name__)

PENDING = pb.BACKFILL_STATE_PENDING
RUNNING = pb.BACKFILL_STATE_RUNNING
SUCCEEDED = pb.BACKFILL_STATE_SUCCEEDED
FAILED = pb.BACKFILL_STATE_FAILED
CANCELLED = pb.BACKFILL_STATE_CANCELLED
ACTIVE = (PENDING, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)

#: Longest wait between retries of a failing backfill page, in seconds.
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class NetworkProgress:
    network: str
    state: int
    fetched: int
    collected: int
    reached: datetime
    fraction: float
    error: str


@dataclass(frozen=True)
class BackfillView:
    """A backfill job and its progress, as the API shows it."""

    id: str
    tenant: str
    query_id: str
    state: int
    since: datetime
    until: datetime
    networks: tuple[NetworkProgress, ...]
    created_at: datetime
    finished_at: datetime | None
    error: str
    request_id: str | None

    @property
    def fraction(self) -> float:
        if not self.networks:
            return 1.0 if self.state == SUCCEEDED else 0.0
        return sum(n.fraction for n in self.networks) / len(self.networks)

    @property
    def fetched(self) -> int:
        return sum(n.fetched for n in self.networks)

    @property
    def collected(self) -> int:
        return sum(n.collected for n in self.networks)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


def fraction_done(since: datetime, until: datetime, reached: datetime, state: int) -> float:
    """``(reached - since) / (until - since)``, within [0, 1]; 1 for a finished network."""
    if state == SUCCEEDED:
        return 1.0
    span = (until - since).total_seconds()
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (reached - since).total_seconds() / span))


def _view(row: BackfillRow, networks: Sequence[BackfillNetworkRow]) -> BackfillView:
    since, until = aware(row.since), aware(row.until)
    progress = tuple(
        NetworkProgress(
            network=n.network,
            state=n.state,
            fetched=n.fetched,
            collected=n.collected,
            reached=aware(n.reached),
            fraction=fraction_done(since, until, aware(n.reached), n.state),
            error=n.error,
        )
        for n in sorted(networks, key=lambda n: n.network)
    )
    return BackfillView(
        id=row.id,
        tenant=row.tenant,
        query_id=row.query_id,
        state=row.state,
        since=since,
        until=until,
        networks=progress,
        created_at=aware(row.created_at),
        finished_at=None if row.finished_at is None else aware(row.finished_at),
        error=row.error,
        request_id=row.request_id,
    )


class Backfills:
    """Backfill jobs per tenant: create (idempotent on ``request_id``), read, list, cancel."""

    def __init__(self, sessions: async_sessionmaker[Any], *, now: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._now = now

    async def create(
        self,
        tenant: str,
        query_id: str,
        *,
        since: datetime,
        until: datetime,
        networks: Sequence[str],
        request_id: str | None,
    ) -> tuple[BackfillView, bool]:
        """A new job (PENDING), or the tenant's earlier one with this ``request_id``; and whether new."""
        if request_id:
            earlier = await self._by_request(tenant, request_id)
            if earlier is not None:
                return earlier, False
        job_id = uuid.uuid4().hex
        try:
            async with self._sessions() as session, session.begin():
                exists = await session.scalar(
                    select(QueryRow.id).where(QueryRow.tenant == tenant, QueryRow.id == query_id)
                )
                if exists is None:
                    raise NotFoundError(f"listening query {query_id!r} does not exist")
                session.add(
                    BackfillRow(
                        id=job_id,
                        tenant=tenant,
                        query_id=query_id,
                        request_id=request_id or None,
                        since=since,
                        until=until,
                        networks=list(networks),
                        state=PENDING,
                        error="",
                        created_at=self._now(),
                        generation=0,
                    )
                )
                await session.flush()
                session.add_all(
                    BackfillNetworkRow(
                        backfill_id=job_id,
                        network=n,
                        state=PENDING,
                        cursor=None,
                        reached=since,
                        fetched=0,
                        collected=0,
                        error="",
                    )
                    for n in networks
                )
        except IntegrityError:
            if request_id:  # a concurrent call with the same request id won
                earlier = await self._by_request(tenant, request_id)
                if earlier is not None:
                    return earlier, False
            raise
        return await self.get(tenant, job_id), True

    async def _by_request(self, tenant: str, request_id: str) -> BackfillView | None:
        async with self._sessions() as session:
            job_id = await session.scalar(
                select(BackfillRow.id).where(
                    BackfillRow.tenant == tenant, BackfillRow.request_id == request_id
                )
            )
        return None if job_id is None else await self.get(tenant, job_id)

    async def get(self, tenant: str, backfill_id: str) -> BackfillView:
        async with self._sessions() as session:
            row = await session.scalar(
                select(BackfillRow).where(BackfillRow.tenant == tenant, BackfillRow.id == backfill_id)
            )
            if row is None:
                raise NotFoundError(f"backfill {backfill_id!r} does not exist")
            networks = list(
                await session.scalars(
                    select(BackfillNetworkRow).where(BackfillNetworkRow.backfill_id == row.id)
                )
            )
        return _view(row, networks)

    async def list(
        self, tenant: str, *, query_id: str = "", offset: int, limit: int
    ) -> tuple[list[BackfillView], bool]:
        """One page of the tenant's jobs, newest first, and whether more follow."""
        stmt = select(BackfillRow).where(BackfillRow.tenant == tenant)
        if query_id:
            stmt = stmt.where(BackfillRow.query_id == query_id)
        stmt = (
            stmt.order_by(BackfillRow.created_at.desc(), BackfillRow.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
        async with self._sessions() as session:
            rows = list(await session.scalars(stmt))
            ids = [r.id for r in rows[:limit]]
            progress: dict[str, list[BackfillNetworkRow]] = {i: [] for i in ids}
            if ids:
                for n in await session.scalars(
                    select(BackfillNetworkRow).where(BackfillNetworkRow.backfill_id.in_(ids))
                ):
                    progress[n.backfill_id].append(n)
        return [_view(r, progress[r.id]) for r in rows[:limit]], len(rows) > limit

    async def cancel(self, tenant: str, backfill_id: str) -> BackfillView:
        """Cancel a pending or running job (a finished one is returned unchanged)."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(BackfillRow.id).where(BackfillRow.tenant == tenant, BackfillRow.id == backfill_id)
            )
            if row is None:
                raise NotFoundError(f"backfill {backfill_id!r} does not exist")
            await self._cancel_where(session, BackfillRow.id == backfill_id)
        return await self.get(tenant, backfill_id)

    async def cancel_for_query(self, tenant: str, query_id: str) -> None:
        """Cancel every pending or running job of a query (it was deleted)."""
        async with self._sessions() as session, session.begin():
            await self._cancel_where(
                session, (BackfillRow.tenant == tenant) & (BackfillRow.query_id == query_id)
            )

    async def _cancel_where(self, session: AsyncSession, condition: Any) -> None:
        now = self._now()
        ids = list(
            await session.scalars(select(BackfillRow.id).where(condition, BackfillRow.state.in_(ACTIVE)))
        )
        if not ids:
            return
        await session.execute(
            update(BackfillRow)
            .where(BackfillRow.id.in_(ids), BackfillRow.state.in_(ACTIVE))
            .values(state=CANCELLED, finished_at=now, owner=None)
        )
        await session.execute(
            update(BackfillNetworkRow)
            .where(BackfillNetworkRow.backfill_id.in_(ids), BackfillNetworkRow.state.in_(ACTIVE))
            .values(state=CANCELLED)
        )


@dataclass(frozen=True)
class JobFence:
    """Inside a write: the job is still this replica's (same generation) and still running."""

    backfill_id: str
    owner: str
    generation: int

    async def holds(self, session: AsyncSession) -> bool:
        result = await session.execute(
            update(BackfillRow)
            .where(
                BackfillRow.id == self.backfill_id,
                BackfillRow.owner == self.owner,
                BackfillRow.generation == self.generation,
                BackfillRow.state == RUNNING,
            )
            .values(generation=BackfillRow.generation)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


class _JobLostError(Exception):
    """The job was cancelled or taken over by another replica."""


@dataclass(frozen=True)
class RunnerConfig:
    replica_id: str
    ttl: float
    renew_interval: float
    concurrency: int = 2
    page_size: int = 100
    poll_interval: float = 1.0
    max_retry: float = MAX_RETRY_SECONDS


class BackfillRunner:
    """Claims backfill jobs and runs them; one per replica."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        *,
        ingestor: Ingestor,
        relay: OutboxRelay,
        networks: Mapping[str, Network],
        budgets: Budgets,
        signal: MentionSignal,
        config: RunnerConfig,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._ingestor = ingestor
        self._relay = relay
        self._networks = networks
        self._budgets = budgets
        self._signal = signal
        self.config = config
        self._now = now
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    @property
    def running(self) -> set[str]:
        return {job for job, task in self._tasks.items() if not task.done()}

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and run jobs until ``stopping`` is set. Cancelling the task is a crash (no release)."""
        self._stopping = stopping
        cfg = self.config
        tick = min(cfg.renew_interval, cfg.poll_interval)
        last_renew = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stopping.is_set():
                try:
                    self._tasks = {j: t for j, t in self._tasks.items() if not t.done()}
                    renewing = loop.time() - last_renew >= cfg.renew_interval
                    if renewing:
                        await uninterrupted(self._renew())
                        last_renew = loop.time()
                    room = cfg.concurrency - len(self._tasks)
                    if room > 0:
                        for job_id, generation in await uninterrupted(self._claim(room)):
                            self._tasks[job_id] = asyncio.create_task(
                                self._run_job(job_id, generation), name=f"listening-backfill-{job_id}"
                            )
                    metrics.BACKFILL_JOBS.labels(state="running").set(len(self.running))
                    if renewing:
                        await uninterrupted(self._observe_queued())
                except Exception:
                    if cancelling():
                        raise asyncio.CancelledError from None
                    log.exception("backfill runner round failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), tick)
        finally:
            for task in self._tasks.values():
                task.cancel()
            for task in self._tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            metrics.BACKFILL_JOBS.labels(state="running").set(0)

    async def release(self) -> None:
        """Graceful stop: hand the running jobs back (they stay RUNNING; another replica resumes them)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(BackfillRow)
                .where(BackfillRow.owner == self.config.replica_id, BackfillRow.state == RUNNING)
                .values(owner=None, lease_expires_at=self._now())
            )

    async def _renew(self) -> None:
        """Renew the leases of the jobs running here (a job whose task ended unexpectedly lapses and
        is claimed again, by this replica or another)."""
        running = sorted(self.running)
        if not running:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(BackfillRow)
                .where(
                    BackfillRow.id.in_(running),
                    BackfillRow.owner == self.config.replica_id,
                    BackfillRow.state == RUNNING,
                )
                .values(lease_expires_at=self._now() + timedelta(seconds=self.config.ttl))
            )

    async def _observe_queued(self) -> None:
        """Set ``resonanz_backfill_jobs{state="queued"}``: jobs waiting for any replica (every renewal).

        Queued jobs are the claimable ones, what ``_claim`` picks from: pending, or running with no
        live owner (its replica died or stopped). ``running`` counts this replica's jobs (every tick).
        """
        now = self._now()
        free = or_(BackfillRow.owner.is_(None), BackfillRow.lease_expires_at < now)
        async with self._sessions() as session:
            queued = await session.scalar(
                select(func.count()).select_from(BackfillRow).where(BackfillRow.state.in_(ACTIVE), free)
            )
        metrics.BACKFILL_JOBS.labels(state="queued").set(int(queued or 0))

    async def _claim(self, room: int) -> list[tuple[str, int]]:
        now = self._now()
        free = or_(BackfillRow.owner.is_(None), BackfillRow.lease_expires_at < now)
        async with self._sessions() as session:
            candidates = list(
                await session.scalars(
                    select(BackfillRow.id)
                    .where(BackfillRow.state.in_(ACTIVE), free)
                    .order_by(BackfillRow.created_at)
                    .limit(room)
                )
            )
        claimed = []
        for job_id in candidates:
            async with self._sessions() as session, session.begin():
                result = await session.execute(
                    update(BackfillRow)
                    .where(BackfillRow.id == job_id, BackfillRow.state.in_(ACTIVE), free)
                    .values(
                        owner=self.config.replica_id,
                        generation=BackfillRow.generation + 1,
                        lease_expires_at=now + timedelta(seconds=self.config.ttl),
                        state=RUNNING,
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    continue
                generation = await session.scalar(
                    select(BackfillRow.generation).where(BackfillRow.id == job_id)
                )
                await session.execute(
                    update(BackfillNetworkRow)
                    .where(BackfillNetworkRow.backfill_id == job_id, BackfillNetworkRow.state == PENDING)
                    .values(state=RUNNING)
                )
            claimed.append((job_id, int(generation or 0)))
        return claimed

    # -- one job ------------------------------------------------------------------------------------

    async def _run_job(self, job_id: str, generation: int) -> None:
        fence = JobFence(job_id, self.config.replica_id, generation)
        try:
            async with self._sessions() as session:
                job = await session.scalar(select(BackfillRow).where(BackfillRow.id == job_id))
                query = None
                if job is not None:
                    query = await session.scalar(select(QueryRow).where(QueryRow.id == job.query_id))
                progress = list(
                    await session.scalars(
                        select(BackfillNetworkRow).where(
                            BackfillNetworkRow.backfill_id == job_id, BackfillNetworkRow.state == RUNNING
                        )
                    )
                )
            if job is None:
                return
            if query is None:
                await self._fail_remaining(fence, "the listening query was deleted")
            else:
                await asyncio.gather(*(self._run_network(fence, job, query, p) for p in progress))
            await self._finish(fence)
        except _JobLostError:
            log.info("backfill %s was cancelled or taken over; this replica stops it", job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            if cancelling():
                raise asyncio.CancelledError from None
            log.exception("backfill %s failed unexpectedly; another round retries it", job_id)

    async def _run_network(
        self, fence: JobFence, job: BackfillRow, query: QueryRow, progress: BackfillNetworkRow
    ) -> None:
        name = progress.network
        network = self._networks.get(name)
        if network is None or not network.manifest.supports(Feature.SEARCH):
            await self._fail_network(fence, name, f"network {name!r} is not loaded or cannot search")
            return
        since, until = aware(job.since), aware(job.until)
        node = parse_cached(query.expression)
        terms = search_terms(node)
        cursor, reached = progress.cursor, aware(progress.reached)
        budget = self._budgets[name]
        failures = 0
        size = self.config.page_size
        while True:
            if not await budget.take(self._stopping):
                return
            request = SearchRequest(
                terms=terms,
                languages=tuple(query.languages),
                since=since,
                until=until,
                cursor=cursor,
                limit=size,
            )
            try:
                page = await network.search(request)
            except (PermanentNetworkError, AuthenticationFailedError) as exc:
                count_error(name, exc)
                await self._fail_network(fence, name, f"{type(exc).__name__}: {exc}")
                return
            except (NetworkError, Exception) as exc:
                count_error(name, exc)
                failures += 1
                retry_after = exc.retry_after if isinstance(exc, TransientNetworkError) else None
                delay = backoff_delay(
                    failures,
                    base=self.config.poll_interval,
                    cap=self.config.max_retry,
                    retry_after=retry_after,
                )
                if retry_after is not None:
                    budget.rate_limited(delay)
                await self._note_error(fence, name, f"{type(exc).__name__}: {exc} (retrying in {delay:.1f}s)")
                await asyncio.sleep(delay)
                continue
            failures = 0
            budget.succeeded()
            next_cursor = page.next_cursor if page.next_cursor is not None else cursor
            finished = len(page.mentions) < size or next_cursor == cursor
            seen = [aware(m.published_at) for m in page.mentions if since <= aware(m.published_at) < until]
            reached = until if finished else max([reached, *seen])
            matched = [m for m in page.mentions if local_match(node, query.languages, m)]
            result = SearchResult(
                query_id=query.id,
                tenant=query.tenant,
                label=query.label,
                network=name,
                cursor=None,
                mentions=matched,
                fence=fence,
                write_cursor=False,
                expression=query.expression,
            )
            await self._store_page(
                fence,
                result,
                query_id=query.id,
                network=name,
                cursor=next_cursor,
                reached=reached,
                fetched=len(page.mentions),
                finished=finished,
            )
            cursor = next_cursor
            if finished:
                return

    async def _store_page(
        self,
        fence: JobFence,
        result: SearchResult,
        *,
        query_id: str,
        network: str,
        cursor: str | None,
        reached: datetime,
        fetched: int,
        finished: bool,
    ) -> None:
        async def progress(session: AsyncSession, outcome: RoundOutcome) -> None:
            if outcome.fenced_out:
                return
            await session.execute(
                update(BackfillNetworkRow)
                .where(
                    BackfillNetworkRow.backfill_id == fence.backfill_id, BackfillNetworkRow.network == network
                )
                .values(
                    cursor=cursor,
                    reached=reached,
                    fetched=BackfillNetworkRow.fetched + fetched,
                    collected=BackfillNetworkRow.collected + outcome.new_by_query.get((query_id, network), 0),
                    state=SUCCEEDED if finished else RUNNING,
                    error="",
                )
            )

        outcome = await uninterrupted(
            self._ingestor.store_round([result], collected_at=self._now(), extra=progress)
        )
        if outcome.fenced_out:
            raise _JobLostError()
        for name, count in outcome.new_by_network.items():
            metrics.BACKFILL_MENTIONS.labels(network=name).inc(count)
        if sum(outcome.new_by_network.values()):
            self._signal.notify()
        await uninterrupted(self._relay.try_flush())

    async def _fenced_update(self, fence: JobFence, network: str | None, **values: Any) -> None:
        await uninterrupted(self._fenced_update_now(fence, network, values))

    async def _fenced_update_now(self, fence: JobFence, network: str | None, values: dict[str, Any]) -> None:
        async with self._sessions() as session, session.begin():
            if not await fence.holds(session):
                raise _JobLostError()
            stmt = update(BackfillNetworkRow).where(BackfillNetworkRow.backfill_id == fence.backfill_id)
            if network is not None:
                stmt = stmt.where(BackfillNetworkRow.network == network)
            else:
                stmt = stmt.where(BackfillNetworkRow.state.in_(ACTIVE))
            await session.execute(stmt.values(**values))

    async def _fail_network(self, fence: JobFence, network: str, error: str) -> None:
        await self._fenced_update(fence, network, state=FAILED, error=error[:1000])

    async def _fail_remaining(self, fence: JobFence, error: str) -> None:
        await self._fenced_update(fence, None, state=FAILED, error=error)

    async def _note_error(self, fence: JobFence, network: str, error: str) -> None:
        await self._fenced_update(fence, network, error=error[:1000])

    async def _finish(self, fence: JobFence) -> None:
        """All networks ended (or this replica is stopping): settle the job's state."""
        async with self._sessions() as session, session.begin():
            if not await fence.holds(session):
                raise _JobLostError()
            rows = list(
                await session.scalars(
                    select(BackfillNetworkRow).where(BackfillNetworkRow.backfill_id == fence.backfill_id)
                )
            )
            if any(r.state in ACTIVE for r in rows):
                return  # stopping mid-way: the job stays RUNNING for whoever claims it next
            failed = [r for r in rows if r.state == FAILED]
            await session.execute(
                update(BackfillRow)
                .where(BackfillRow.id == fence.backfill_id)
                .values(
                    state=FAILED if failed else SUCCEEDED,
                    error="; ".join(f"{r.network}: {r.error}" for r in failed),
                    finished_at=self._now(),
                    owner=None,
                )
            )


def build_runner(
    settings: Settings,
    sessions: async_sessionmaker[Any],
    *,
    replica_id: str,
    ingestor: Ingestor,
    relay: OutboxRelay,
    networks: Mapping[str, Network],
    budgets: Budgets,
    signal: MentionSignal,
) -> BackfillRunner:
    """The backfill runner of a replica, configured from the settings."""
    return BackfillRunner(
        sessions,
        ingestor=ingestor,
        relay=relay,
        networks=networks,
        budgets=budgets,
        signal=signal,
        config=RunnerConfig(
            replica_id=replica_id,
            ttl=settings.lease_ttl_seconds,
            renew_interval=settings.lease_renew_seconds,
            concurrency=settings.backfill_concurrency,
            page_size=settings.listening_page_size,
            poll_interval=min(1.0, settings.poll_interval_seconds),
        ),
    )
