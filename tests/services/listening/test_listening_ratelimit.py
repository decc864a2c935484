"""Rate limits and errors: 429s slow collection down without losing the cursor, the manifest's search
limit is never exceeded while paging, permanent errors pause a query until it is updated.

Real broker, SQLite and PostgreSQL; the simulated network (manual clock) and scripted networks.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from listening_collection_helpers import LimitedNetwork, Replica, add_queries, max_in_window
from listening_helpers import RawTopicReader, ScriptedNetwork, eventually
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_listening.app import ListeningApp
from resonanz_listening.collection_rpc import CollectionApi
from resonanz_listening.collection_state import StatusEntry
from resonanz_listening.pairs import local_match, parse_cached
from resonanz_listening.rate_budget import BURST_SHARE, TokenBucket, backoff_delay
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import AuthenticationFailedError, PermanentNetworkError
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.manifest import RateLimit
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

pytestmark = pytest.mark.integration


def test_backoff_honours_retry_after_else_grows_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    assert backoff_delay(1, base=1, cap=300, retry_after=7.5) == 7.5
    assert backoff_delay(1, base=1, cap=5, retry_after=60) == 5
    for failures in range(1, 12):
        delay = backoff_delay(failures, base=1.0, cap=60.0, rng=rng)
        exponential = min(60.0, 2.0 ** (failures - 1))
        assert exponential / 2 <= delay < exponential or delay == exponential


def test_token_bucket_never_lets_more_than_the_limit_through_in_any_window() -> None:
    now = [0.0]
    bucket = TokenBucket(RateLimit("search", 50, 10.0), clock=lambda: now[0])
    assert bucket.capacity == BURST_SHARE * 50
    calls: list[float] = []
    while now[0] < 60:
        wait = bucket.wait_time()
        if wait > 0:
            now[0] += wait
            continue
        bucket.take()
        calls.append(now[0])
    assert max_in_window(calls, 10.0) <= 50
    assert len(calls) >= 0.9 * 50 * 6 - 1  # and it does not starve: ~90 % of the limit on average


async def _status(settings: Settings, query_id: str, networks: list[str]) -> list[StatusEntry]:
    engine = create_engine(settings.database_url_for("listening"))
    try:
        api = CollectionApi(session_factory(engine), {})
        return await api.states.status("acme", query_id, networks)
    finally:
        await engine.dispose()


async def test_429s_slow_collection_down_and_every_mention_still_arrives(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = settings.model_copy(update={"listening_page_size": 10, "listening_page_budget": 2})
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    world = SimulatedWorld(11, clock)
    network = SimulatedNetwork(world, settings=Settings(simulated_faults=""))
    await add_queries(settings, [("q1", "Resonanz OR Klangwerk")])
    clock.advance(1800)  # half an hour of posts wait to be collected
    network.inject_fault("search", "rate_limited", count=2, retry_after=1.5)
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"simulated": network}, "r1").start()
    try:

        async def backing_off() -> bool:
            (entry,) = await _status(settings, "q1", ["simulated"])
            return (
                entry.state is not None
                and "RateLimitedError" in entry.state.last_error
                and entry.state.backoff_until is not None
            )

        await eventually(backing_off)
        assert network.faults.pending == 1  # one 429 at a time: the network is blocked meanwhile

        # what the world has about the brands (the clock stands still: nothing new appears)
        node = parse_cached("Resonanz OR Klangwerk")
        expected = {
            f"simulated:{post.external_id}"
            for post in world.posts()
            if local_match(node, [], SimulatedNetwork._mention(world, post))
        }
        assert len(expected) > 20  # several pages of 10: paging resumed from the kept cursor
        envelopes = await reader.read_until(len(expected), within=20)
        ids = Counter(e.mention_collected.mention.id for e in envelopes)
        assert ids == Counter(dict.fromkeys(expected, 1))

        async def recovered() -> bool:
            (entry,) = await _status(settings, "q1", ["simulated"])
            return entry.state is not None and entry.state.last_error == "" and entry.owner == "r1"

        await eventually(recovered)
        (entry,) = await _status(settings, "q1", ["simulated"])
        assert entry.state is not None
        assert entry.state.mentions_collected == len(expected)
        assert entry.state.mode == "stream"  # the simulated network streams once caught up
    finally:
        await replica.stop()
        await reader.stop()


async def test_paging_stays_within_the_manifests_search_limit(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = settings.model_copy(update={"listening_page_size": 2, "listening_page_budget": 50})
    network = LimitedNetwork(requests=4, per_seconds=1.0)
    await add_queries(settings, [("q1", "acme"), ("q2", "acme OR other")])
    posts = [network.post(f"acme {i}") for i in range(24)]
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"limited": network}, "r1").start()
    try:
        envelopes = await reader.read_until(len(posts), within=25)
        assert Counter(e.mention_collected.mention.id for e in envelopes) == Counter(
            {f"limited:{p.external_id}": 1 for p in posts}
        )
        assert len(network.requests) >= 24  # two queries, twelve full pages each
        assert max_in_window(network.times, 1.0) <= 4
        pages = [r.cursor for r in network.requests if r.cursor is not None]
        assert len(set(pages)) > 2  # it followed next_cursor page after page
    finally:
        await replica.stop()
        await reader.stop()


async def test_a_permanent_error_pauses_the_query_until_it_is_updated(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    network = ScriptedNetwork()
    network.failures.append(PermanentNetworkError("scripted", "this search is not allowed"))
    await add_queries(settings, [("q1", "acme")])
    network.post("acme one")
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"scripted": network}, "r1").start()
    try:

        async def paused() -> bool:
            (entry,) = await _status(settings, "q1", ["scripted"])
            return entry.state is not None and entry.state.paused

        await eventually(paused)
        (entry,) = await _status(settings, "q1", ["scripted"])
        assert entry.state is not None
        assert "this search is not allowed" in entry.state.last_error
        calls = len(network.requests)
        assert await reader.read_until(1, within=1.0) == []
        assert len(network.requests) == calls  # paused: not asked again

        engine = create_engine(settings.database_url_for("listening"))
        try:
            await CollectionApi(session_factory(engine), {}).query_updated("acme", "q1", reset_cursors=False)
        finally:
            await engine.dispose()
        envelopes = await reader.read_until(1)
        assert [e.mention_collected.mention.id for e in envelopes] == ["scripted:p1"]
    finally:
        await replica.stop()
        await reader.stop()


async def test_get_query_status_shows_the_lease_and_the_pause_over_grpc(
    app: ListeningApp, stub: ListeningServiceAsyncStub, network: ScriptedNetwork
) -> None:
    network.failures.append(AuthenticationFailedError("scripted", "token revoked"))
    request = pb.CreateQueryRequest(name="Acme", expression="acme", label="Acme")
    query_id = (await stub.CreateQuery(request, metadata=tenant_metadata("acme"))).query.id

    async def paused() -> pb.CollectionState | None:
        status = await stub.GetQueryStatus(
            pb.GetQueryStatusRequest(query_id=query_id), metadata=tenant_metadata("acme")
        )
        (state,) = status.networks
        return state if state.last_error else None

    await eventually(lambda: _is_set(paused))
    state = await paused()
    assert state is not None
    assert state.network == "scripted"
    assert state.mode == "poll"
    assert state.last_error.startswith("paused until the query is updated: AuthenticationFailedError")
    assert "token revoked" in state.last_error
    assert app.collector is not None
    assert state.owner == app.collector.leases.replica_id
    assert state.lease_expires_at.seconds > 0
    assert state.last_polled_at.seconds > 0
    assert not state.HasField("backoff_until")  # paused, not backing off
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=""), metadata=tenant_metadata("acme"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _is_set(probe: Callable[[], Awaitable[object | None]]) -> bool:
    return await probe() is not None
