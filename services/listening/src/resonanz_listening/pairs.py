"""Helpers about one (query, network) pair: which pairs a query has, local matching, a poll's result."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from resonanz_sdk import metrics
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network, RawMention

from resonanz_listening.ingest import SearchResult
from resonanz_listening.leases import Lease
from resonanz_listening.models import QueryRow
from resonanz_listening.query import Node, compile_query, parse
from resonanz_listening.query.matcher import Post


@lru_cache(maxsize=4096)
def parse_cached(expression: str) -> Node:
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


def streams_for(network: Network) -> bool:
    return network.manifest.supports(Feature.STREAM)


@dataclass
class PairPoll:
    """What polling one pair produced in a round."""

    lease: Lease
    results: list[SearchResult] = field(default_factory=list)
    fetched: int = 0
    error: NetworkError | Exception | None = None
    #: Back-off after the error, in seconds; ``None``: paused (permanent error).
    delay: float | None = 0.0
    #: The last page came back short: the search has nothing more for now.
    caught_up: bool = False


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of ``resonanz_collection_errors_total``: rate_limited, transient, auth, other.

    A transient error carrying ``retry_after`` is the network's rate limit too (it blocks the network
    like a 429); permanent errors and plugin bugs are ``other``.
    """
    if isinstance(exc, RateLimitedError) or (
        isinstance(exc, TransientNetworkError) and exc.retry_after is not None
    ):
        return "rate_limited"
    if isinstance(exc, TransientNetworkError):
        return "transient"
    if isinstance(exc, AuthenticationFailedError):
        return "auth"
    return "other"


def count_error(network: str, exc: BaseException) -> None:
    metrics.COLLECTION_ERRORS.labels(network=network, kind=error_kind(exc)).inc()


T = TypeVar("T")


def cancelling() -> bool:
    """Whether the current task is being cancelled (an error raised meanwhile must not swallow it).

    A task cancelled inside a database call can see the ``CancelledError`` turned into another
    error by the driver's rollback; loops that catch ``Exception`` check this and re-raise.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def uninterrupted(write: Awaitable[T]) -> T:
    """Await ``write`` (a database transaction) so that cancelling the caller lets it finish first.

    Cancelling a task in the middle of a transaction can leave a pooled connection invalid (and,
    on SQLite, the process's write gate waiting for it); stream and backfill tasks are cancelled
    as part of normal operation, so their writes run to completion and the cancel lands after.
    """
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise
