"""Push streams: a network with ``Feature.STREAM`` is collected from its stream (mode "stream"); after a
dropped or refused connection the collector reconnects and fills the gap by polling from the cursor,
so every mention reaches ``mentions.raw`` once.

Real broker, SQLite and PostgreSQL; the simulated network on a manual clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from listening_collection_helpers import Replica, add_queries
from listening_helpers import RawTopicReader, eventually
from resonanz_listening.collection_rpc import CollectionApi
from resonanz_listening.pairs import local_match, parse_cached
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.network import SearchPage, SearchRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

pytestmark = pytest.mark.integration

EXPRESSION = "Resonanz OR Klangwerk"


class CountingNetwork(SimulatedNetwork):
    """The simulated network, counting search calls (to tell polling from streaming)."""

    searches = 0

    async def search(self, request: SearchRequest) -> SearchPage:
        self.searches += 1
        return await super().search(request)


def _expected(world: SimulatedWorld) -> Counter[str]:
    node = parse_cached(EXPRESSION)
    return Counter(
        {
            f"simulated:{p.external_id}": 1
            for p in world.posts()
            if local_match(node, [], SimulatedNetwork._mention(world, p))
        }
    )


async def _mode(settings: Settings) -> str:
    engine = create_engine(settings.database_url_for("listening"))
    try:
        (entry,) = await CollectionApi(session_factory(engine), {}).states.status("acme", "q1", ["simulated"])
        return entry.state.mode if entry.state is not None else ""
    finally:
        await engine.dispose()


async def _advance(clock: ManualClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(60)
        await asyncio.sleep(0.02)


async def test_a_streaming_network_is_collected_from_its_stream_and_reconnects_without_loss(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = settings.model_copy(update={"listening_page_size": 20})
    clock = ManualClock(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    world = SimulatedWorld(5, clock)
    network = CountingNetwork(world, settings=Settings(simulated_faults=""))
    network.stream_tick_seconds = 0.01
    await add_queries(settings, [("q1", EXPRESSION)])
    clock.advance(600)  # ten minutes before the replica starts: the catch-up poll finds them
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"simulated": network}, "r1").start()
    try:
        await reader.read_until(sum(_expected(world).values()))

        async def streaming() -> bool:
            return await _mode(settings) == "stream"

        await eventually(streaming)
        assert replica.collector is not None
        assert replica.collector.streams.running == {("q1", "simulated")}
        polls = network.searches
        await _advance(clock, 20)  # new posts are pushed, not polled
        envelopes = await reader.read_until(sum(_expected(world).values()))
        assert Counter(e.mention_collected.mention.id for e in envelopes) == _expected(world)
        assert network.searches == polls

        network.drop_streams()  # a blip: what is posted meanwhile comes from the catch-up poll
        await _advance(clock, 10)

        async def caught_up() -> bool:
            return network.searches > polls

        await eventually(caught_up)
        await _advance(clock, 10)
        envelopes = await reader.read_until(sum(_expected(world).values()))
        assert Counter(e.mention_collected.mention.id for e in envelopes) == _expected(world)
    finally:
        await replica.stop()
        await reader.stop()


async def test_a_refused_stream_backs_off_and_then_streams(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    clock = ManualClock(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    world = SimulatedWorld(6, clock)
    network = CountingNetwork(world, settings=Settings(simulated_faults=""))
    network.stream_tick_seconds = 0.01
    network.inject_fault("stream", "transient", count=2, retry_after=0.3)
    await add_queries(settings, [("q1", EXPRESSION)])
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"simulated": network}, "r1").start()
    try:

        async def refused_twice() -> bool:
            return network.faults.pending == 0

        await eventually(refused_twice)
        await _advance(clock, 30)
        envelopes = await reader.read_until(sum(_expected(world).values()))
        assert sum(_expected(world).values()) > 0
        assert Counter(e.mention_collected.mention.id for e in envelopes) == _expected(world)
    finally:
        await replica.stop()
        await reader.stop()
