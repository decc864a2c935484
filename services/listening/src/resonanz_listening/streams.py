"""Push-stream collection: one task per held (query, network) whose network offers ``Feature.STREAM``.

Each task loops: open ``network.stream(...)`` (a reader task pushes into a queue), then catch up by
polling ``search`` from the durable cursor until a page comes back short (this fills the gap since
the last connection; anything seen twice is de-duplicated by the ingestor), then store what the
stream pushes in small batches, fenced by the lease (stream batches never move the search cursor;
when the stream has been quiet for a moment after ``STREAM_CURSOR_REFRESH_SECONDS``, a catch-up
poll moves it, so a reconnect re-reads at most about that much).
When the stream fails or closes, the pair backs off like a failed poll (429s block the network,
transient errors back off exponentially, permanent ones pause it) and reconnects. A task ends when
its lease is lost or released, the query changes, or the collector stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from resonanz_sdk.errors import NetworkError, TransientNetworkError
from resonanz_sdk.network import Network, RawMention, StreamRequest
from sqlalchemy import select

from resonanz_listening.ingest import SearchResult
from resonanz_listening.leases import Lease, PairKey
from resonanz_listening.models import CursorRow, QueryRow
from resonanz_listening.pairs import (
    PairPoll,
    cancelling,
    count_error,
    local_match,
    parse_cached,
    uninterrupted,
)
from resonanz_listening.query import Node, search_terms

if TYPE_CHECKING:
    from resonanz_listening.collector import Collector

log = logging.getLogger(__name__)

#: Most pushed mentions stored in one transaction.
STREAM_BATCH = 500
#: How long a batch waits for more pushed mentions once it has one, in seconds.
STREAM_LINGER_SECONDS = 0.05
#: While streaming, a quiet moment after this many seconds runs a catch-up poll that moves the
#: search cursor, so a reconnect re-reads at most about this much of what was pushed.
STREAM_CURSOR_REFRESH_SECONDS = 60.0

_CLOSED = object()


@dataclass
class _Running:
    lease: Lease
    expression: str
    languages: tuple[str, ...]
    task: asyncio.Task[None]


class _ClosedError(Exception):
    """The network closed the stream normally."""


class StreamSupervisor:
    """Starts and stops the stream tasks of a :class:`~resonanz_listening.collector.Collector`."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector
        self._running: dict[PairKey, _Running] = {}

    @property
    def running(self) -> set[PairKey]:
        return {k for k, r in self._running.items() if not r.task.done()}

    async def reconcile(self, held: Mapping[PairKey, Lease], queries: Mapping[str, QueryRow]) -> None:
        """Run exactly one task per held stream pair (restarting it when its query changed)."""
        for key, running in list(self._running.items()):
            query = queries.get(key[0])
            lease = held.get(key)
            stale = (
                lease is None
                or lease.generation != running.lease.generation
                or query is None
                or query.expression != running.expression
                or tuple(query.languages) != running.languages
            )
            if stale or running.task.done():
                await self._stop(key)
        missing = [k for k in held if k not in self._running and k[0] in queries]
        if not missing:
            return
        states = await self._collector._states.load(missing)
        for key in missing:
            state = states.get(key)
            if state is not None and state.paused:
                continue
            lease, query = held[key], queries[key[0]]
            task = asyncio.create_task(
                self._run(lease, query, None if state is None else state.backoff_until),
                name=f"listening-stream-{key[0]}-{key[1]}",
            )
            self._running[key] = _Running(lease, query.expression, tuple(query.languages), task)

    async def _stop(self, key: PairKey) -> None:
        running = self._running.pop(key, None)
        if running is None:
            return
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task

    async def stop_all(self) -> None:
        for key in list(self._running):
            await self._stop(key)

    # -- one pair ----------------------------------------------------------------------------------

    async def _run(self, lease: Lease, query: QueryRow, backoff_until: datetime | None) -> None:
        collector = self._collector
        network = collector._networks[lease.network]
        if backoff_until is not None:
            wait = (backoff_until - collector._now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        while True:
            try:
                await self._connected(network, lease, query)
            except asyncio.CancelledError:
                raise
            except _LeaseLostError:
                return
            except Exception as exc:
                if cancelling():
                    raise asyncio.CancelledError from None
                if isinstance(exc, _ClosedError):
                    exc = TransientNetworkError(lease.network, "the stream was closed by the network")
                delay = await self._failed(lease, exc)
                if delay is None:
                    return  # paused until the query is updated
                await asyncio.sleep(delay)

    async def _connected(self, network: Network, lease: Lease, query: QueryRow) -> None:
        """One connection: open, catch up by polling, then store what is pushed until it ends."""
        request = StreamRequest(terms=search_terms(_node(query)), languages=tuple(query.languages))
        queue: asyncio.Queue[Any] = asyncio.Queue()
        reader = asyncio.create_task(_read(network, request, queue))
        try:
            await asyncio.sleep(0)  # the reader opens the stream before the catch-up starts
            await self._catch_up(lease, query)
            loop = asyncio.get_running_loop()
            refresh_at = loop.time() + STREAM_CURSOR_REFRESH_SECONDS
            while True:
                try:
                    async with asyncio.timeout(max(0.0, refresh_at - loop.time())):
                        first = await _next(queue)
                except TimeoutError:
                    # Move the cursor up to now, so a reconnect re-reads at most this much.
                    await self._catch_up(lease, query)
                    refresh_at = loop.time() + STREAM_CURSOR_REFRESH_SECONDS
                    continue
                batch: list[RawMention] = [first]
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(STREAM_LINGER_SECONDS):
                            while len(batch) < STREAM_BATCH:
                                batch.append(await _next(queue))
                except _EndedError as ended:
                    ended.pending = batch
                    raise
                await self._store_pushed(lease, query, batch)
        except _EndedError as ended:
            if ended.pending:
                await self._store_pushed(lease, query, ended.pending)
            raise ended.cause from None
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _catch_up(self, lease: Lease, query: QueryRow) -> None:
        collector = self._collector
        while True:
            cursor = await self._cursor(lease.key)
            states = await collector._states.load([lease.key])
            poll = await collector.poll_pair(lease, query, cursor, states.get(lease.key), until_done=True)
            await self._store(lease, [poll])
            if poll.error is not None:
                raise poll.error
            if poll.caught_up:
                return

    async def _cursor(self, key: PairKey) -> str | None:
        async with self._collector._ingestor.sessions() as session:
            cursor: str | None = await session.scalar(
                select(CursorRow.cursor).where(CursorRow.query_id == key[0], CursorRow.network == key[1])
            )
            return cursor

    async def _store_pushed(self, lease: Lease, query: QueryRow, batch: list[RawMention]) -> None:
        node = _node(query)
        matched = [raw for raw in batch if local_match(node, query.languages, raw)]
        result = SearchResult(
            query_id=query.id,
            tenant=query.tenant,
            label=query.label,
            network=lease.network,
            cursor=None,
            mentions=matched,
            fence=lease.fence(),
            write_cursor=False,
            expression=query.expression,
        )
        await self._store(lease, [PairPoll(lease, results=[result], fetched=len(batch))])

    async def _store(self, lease: Lease, polls: list[PairPoll]) -> None:
        collector = self._collector
        await uninterrupted(collector.store_polls(lease.network, polls, mode="stream"))
        if lease.key not in collector.leases.held:
            raise _LeaseLostError()
        await uninterrupted(collector._relay.try_flush())

    async def _failed(self, lease: Lease, exc: Exception) -> float | None:
        collector = self._collector
        states = await collector._states.load([lease.key])
        delay = collector._failure_delay(lease.network, exc, states.get(lease.key))
        count_error(lease.network, exc)
        await self._store(lease, [PairPoll(lease, error=exc, delay=delay)])
        log.warning(
            "stream of query %s on %s failed (%s); %s",
            lease.query_id,
            lease.network,
            exc,
            "paused" if delay is None else f"reconnecting in {delay:.1f}s",
        )
        return delay


class _LeaseLostError(Exception):
    pass


class _EndedError(Exception):
    def __init__(self, cause: BaseException, pending: list[RawMention]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.pending = pending


def _node(query: QueryRow) -> Node:
    return parse_cached(query.expression)


async def _read(network: Network, request: StreamRequest, queue: asyncio.Queue[Any]) -> None:
    """Push every streamed mention into ``queue``; then the error that ended it, or ``_CLOSED``."""
    try:
        async for raw in network.stream(request):
            queue.put_nowait(raw)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        queue.put_nowait(exc)
        return
    queue.put_nowait(_CLOSED)


async def _next(queue: asyncio.Queue[Any]) -> RawMention:
    item = await queue.get()
    if item is _CLOSED:
        raise _EndedError(_ClosedError(), [])
    if isinstance(item, BaseException):
        raise _EndedError(item if isinstance(item, Exception) else NetworkError("?", str(item)), [])
    assert isinstance(item, RawMention)
    return item
