"""The collector loop: searches every enabled query on each network it covers, every poll interval.

For each (query, network) due, it calls ``network.search`` with the query's positive terms, its
languages and the durable cursor, applies the whole query (and the language filter) locally, and
hands the round to the :class:`~resonanz_listening.ingest.Ingestor`, which stores mentions, cursors
and outbox rows in one transaction. The :class:`~resonanz_listening.outbox.OutboxRelay` then sends
the events. A network that raises a NetworkError backs that (query, network) off (honouring
``retry_after``); its cursor stays where it was, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from resonanz_sdk import metrics
from resonanz_sdk.errors import NetworkError, TransientNetworkError
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network, RawMention, SearchRequest

from resonanz_listening.ingest import Ingestor, SearchResult
from resonanz_listening.models import QueryRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_listening.query import Node, compile_query, parse, search_terms
from resonanz_listening.query.matcher import Post
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore

log = logging.getLogger(__name__)

#: Longest back-off of a failing (query, network), in seconds.
MAX_BACKOFF_SECONDS = 300.0


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> Node:
    return parse(expression)


def networks_for(query: QueryRow, networks: Mapping[str, Network]) -> list[str]:
    """The loaded networks supporting search that ``query`` covers (all of them when it names none)."""
    names = query.networks or sorted(networks)
    return [n for n in names if n in networks and networks[n].manifest.supports(Feature.SEARCH)]


def local_match(node: Node, languages: Sequence[str], raw: RawMention) -> bool:
    """Whether ``raw`` satisfies the query and its language filter (unknown language passes)."""
    if languages and raw.language and raw.language.split("-")[0].lower() not in languages:
        return False
    return compile_query(node)(Post.of(raw.text, raw.hashtags, raw.mentions))


@dataclass
class _Backoff:
    not_before: float
    failures: int


class Collector:
    def __init__(
        self,
        *,
        store: ListeningStore,
        ingestor: Ingestor,
        relay: OutboxRelay,
        networks: Mapping[str, Network],
        signal: MentionSignal,
        poll_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ingestor = ingestor
        self._relay = relay
        self._networks = networks
        self._signal = signal
        self._poll_interval = poll_interval
        self._clock = clock
        self._backoff: dict[tuple[str, str], _Backoff] = {}

    def backed_off(self, query_id: str, network: str) -> bool:
        entry = self._backoff.get((query_id, network))
        return entry is not None and entry.not_before > self._clock()

    async def run(self, stopping: asyncio.Event) -> None:
        """Collect every poll interval until ``stopping`` is set; one failed round never ends the loop."""
        while not stopping.is_set():
            try:
                await self.collect_once()
            except Exception:
                log.exception("listening collection round failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._poll_interval)

    async def collect_once(self) -> int:
        """One round over every enabled query; returns the number of new mentions stored."""
        queries = await self._store.enabled_queries()
        cursors = await self._store.cursors()
        by_network: dict[str, list[QueryRow]] = {}
        for query in queries:
            for network in networks_for(query, self._networks):
                if not self.backed_off(query.id, network):
                    by_network.setdefault(network, []).append(query)
        rounds = await asyncio.gather(
            *(self._search_network(name, qs, cursors) for name, qs in by_network.items())
        )
        results = [r for found in rounds for r in found]
        new = await self._ingestor.store(results, collected_at=datetime.now(UTC))
        for network, count in new.items():
            metrics.MENTIONS_COLLECTED.labels(network=network).inc(count)
        total = sum(new.values())
        if total:
            self._signal.notify()
        await self._relay.try_flush()
        return total

    async def _search_network(
        self, name: str, queries: Sequence[QueryRow], cursors: Mapping[tuple[str, str], str | None]
    ) -> list[SearchResult]:
        network = self._networks[name]
        results: list[SearchResult] = []
        for query in queries:
            node = _parsed(query.expression)
            cursor = cursors.get((query.id, name))
            request = SearchRequest(terms=search_terms(node), languages=tuple(query.languages), cursor=cursor)
            try:
                page = await network.search(request)
            except NetworkError as exc:
                self._back_off(query.id, name, exc)
                continue
            except Exception:
                log.exception("network %s failed searching query %s (a plugin bug)", name, query.id)
                self._back_off(query.id, name, None)
                continue
            self._backoff.pop((query.id, name), None)
            matched = [raw for raw in page.mentions if local_match(node, query.languages, raw)]
            results.append(
                SearchResult(
                    query_id=query.id,
                    tenant=query.tenant,
                    label=query.label,
                    network=name,
                    cursor=page.next_cursor if page.next_cursor is not None else cursor,
                    mentions=matched,
                )
            )
        return results

    def _back_off(self, query_id: str, network: str, exc: NetworkError | None) -> None:
        key = (query_id, network)
        failures = self._backoff[key].failures + 1 if key in self._backoff else 1
        delay = min(self._poll_interval * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        if isinstance(exc, TransientNetworkError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        elif exc is not None and not isinstance(exc, TransientNetworkError):
            delay = max(delay, min(MAX_BACKOFF_SECONDS, self._poll_interval * 10))
        self._backoff[key] = _Backoff(self._clock() + delay, failures)
        log.warning(
            "network %s: query %s backs off %.1fs after %s: %s",
            network,
            query_id,
            delay,
            type(exc).__name__ if exc else "an unexpected error",
            exc,
        )
