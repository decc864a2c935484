"""Helpers of the listening service tests (a uniquely named module, imported by tests and conftest).

``ScriptedNetwork`` stands in for a network plugin until the simulated plugin lands: a small
in-memory network whose posts the test scripts, which searches them like a real network would (any of
the terms, after the cursor) and can be told to fail. It is registered through the real
``PluginManager`` by ``plugin_manager()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_sdk.errors import NetworkError
from resonanz_sdk.eventbus import Topic, topic_name
from resonanz_sdk.manifest import Feature, Manifest, TextRules
from resonanz_sdk.network import AuthorInfo, Network, RawMention, SearchPage, SearchRequest
from resonanz_sdk.plugins import PluginManager, hookimpl


class ScriptedNetwork(Network):
    """An in-memory network: ``post()`` adds a post; ``search`` pages through them by index."""

    def __init__(self, name: str = "scripted", *, search: bool = True) -> None:
        features = frozenset({Feature.SEARCH}) if search else frozenset({Feature.PUBLISH})
        self._manifest = Manifest(
            network=name, display_name=name.title(), features=features, text=TextRules(500)
        )
        self.posts: list[RawMention] = []
        self.requests: list[SearchRequest] = []
        #: When each search call came (``time.monotonic()``), parallel to ``requests``.
        self.times: list[float] = []
        #: Raised (and removed) by the next search calls, in order.
        self.failures: list[NetworkError] = []

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def post(
        self, text: str, *, hashtags: Sequence[str] = (), mentions: Sequence[str] = (), language: str = "en"
    ) -> RawMention:
        n = len(self.posts) + 1
        raw = RawMention(
            external_id=f"p{n}",
            url=f"https://{self.name}.example/p{n}",
            author=AuthorInfo(external_id=f"u{n}", handle=f"user{n}", followers=10 * n),
            text=text,
            published_at=datetime(2026, 1, 1, 12, n % 60, tzinfo=UTC),
            language=language,
            hashtags=tuple(hashtags),
            mentions=tuple(mentions),
        )
        self.posts.append(raw)
        return raw

    async def search(self, request: SearchRequest) -> SearchPage:
        self.requests.append(request)
        self.times.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        start = int(request.cursor or 0)
        terms = [t.lstrip("#@").lower() for t in request.terms]
        page = self.posts[start : start + request.limit]
        found = tuple(p for p in page if any(t in p.text.lower() or t in _lower(p.hashtags) for t in terms))
        return SearchPage(mentions=found, next_cursor=str(start + len(page)))


def _lower(values: Sequence[str]) -> list[str]:
    return [v.lower() for v in values]


class _Plugin:
    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = networks

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        for network in self._networks:
            register(network)


def plugin_manager(*networks: Network) -> PluginManager:
    pm = PluginManager(allowed=[])
    pm.register(_Plugin(networks), name="scripted-test")
    return pm


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 15.0) -> None:
    """Wait until ``check()`` is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


class RawTopicReader:
    """Reads every ``mentions.raw`` envelope of the test's topic prefix, from the beginning."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic_name(Topic.MENTIONS_RAW, prefix),
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        self.envelopes: list[EventEnvelope] = []

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def read_until(self, count: int, *, within: float = 15.0) -> list[EventEnvelope]:
        """Read until ``count`` envelopes arrived in all (or ``within`` s), then 0.5 s more for extras."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle: float | None = None
        while loop.time() < deadline:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                self.envelopes.extend(EventEnvelope.FromString(r.value) for r in records)
            if len(self.envelopes) >= count:
                settle = settle or loop.time() + 0.5
                if loop.time() >= settle:
                    break
        return list(self.envelopes)
