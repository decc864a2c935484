"""Helpers of the scoring stream tests: mentions, envelopes, waiting on the database, an observer
that records what it is handed (a real BatchObserver, registered through the extension API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import faust
from resonanz.common.v1 import mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.eventbus import new_envelope


def mention(
    mention_id: str,
    text: str = "Acme ist super, ich liebe es",
    *,
    tenant: str = "acme-corp",
    labels: Sequence[str] = ("acme",),
    followers: int = 100,
    likes: int = 0,
    shares: int = 0,
) -> mention_pb2.Mention:
    m = mention_pb2.Mention(
        id=mention_id,
        tenant=tenant,
        network="testnet",
        external_id=mention_id.split(":", 1)[-1],
        text=text,
        author=mention_pb2.Author(id=f"id-{mention_id}", handle="someone", followers=followers),
        engagement=mention_pb2.EngagementCounts(likes=likes, shares=shares),
        labels=list(labels),
    )
    m.published_at.FromDatetime(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    return m


def collected(m: mention_pb2.Mention) -> events_pb2.EventEnvelope:
    """A fresh envelope (new event id) every call: a redelivery or a re-collection."""
    return new_envelope(m.tenant, events_pb2.MentionCollected(mention=m))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "") -> None:
    """Wait until ``check()`` is true; fails with ``what`` when it is not within ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within} s: {what}")
        await asyncio.sleep(0.1)


class RecordingObserver:
    """Keeps every item it is handed; fails its first ``fail_first`` calls (to test retries)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.items: list[ScoredItem] = []
        self.calls = 0
        self.fail_first = fail_first

    async def observe(self, items: Sequence[ScoredItem]) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError(f"observer failure {self.calls}")
        self.items.extend(items)

    @property
    def ids(self) -> list[str]:
        return [item.mention.id for item in self.items]


def observing(observer: RecordingObserver) -> Callable[[faust.App, StreamContext], None]:
    """An extension (``register(app, ctx)``) that adds ``observer``."""

    def register(app: faust.App, ctx: StreamContext) -> None:
        ctx.add_observer(observer)

    return register
