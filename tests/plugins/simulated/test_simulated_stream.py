"""The simulated network's push stream and its history for past time ranges (``since``/``until``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from resonanz_sdk.errors import PermanentNetworkError, TransientNetworkError
from resonanz_sdk.network import RawMention, SearchRequest, StreamRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld


async def _collect(
    network: SimulatedNetwork, clock: ManualClock, request: StreamRequest, steps: int
) -> list[RawMention]:
    """Read the stream while the clock moves ``steps`` times by a minute."""
    network.stream_tick_seconds = 0.01
    got: list[RawMention] = []

    async def read() -> None:
        async for raw in network.stream(request):
            got.append(raw)

    task = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.05)
        for _ in range(steps):
            clock.advance(60)
            await asyncio.sleep(0.03)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return got


async def test_stream_pushes_new_matching_posts_once(network: SimulatedNetwork, clock: ManualClock) -> None:
    start = network.world.now
    got = await _collect(network, clock, StreamRequest(terms=("Resonanz",), languages=("de",)), 20)
    ids = [m.external_id for m in got]
    assert ids, "twenty simulated minutes bring German posts about the brand"
    assert len(ids) == len(set(ids))
    assert all("resonanz" in m.text.casefold() and m.language == "de" for m in got)
    assert all(m.published_at >= start for m in got)
    # exactly what a search over the same time finds
    expected = [
        p.external_id
        for p in network.world.posts()
        if "resonanz" in p.folded and p.language == "de" and p.published_at >= start
    ]
    assert sorted(ids) == sorted(expected)


async def test_dropped_stream_raises_a_transient_error(network: SimulatedNetwork, clock: ManualClock) -> None:
    network.stream_tick_seconds = 0.01
    stream = network.stream(StreamRequest(terms=("Resonanz",)))

    async def drain() -> None:
        async for _ in stream:
            pass

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    network.drop_streams()
    clock.advance(1)
    with pytest.raises(TransientNetworkError, match="stream disconnected"):
        await asyncio.wait_for(task, 5)


async def test_stream_faults_and_empty_terms(network: SimulatedNetwork) -> None:
    network.inject_fault("stream", "rate_limited", retry_after=3)
    with pytest.raises(TransientNetworkError) as caught:
        await anext(aiter(network.stream(StreamRequest(terms=("Resonanz",)))))
    assert caught.value.retry_after == 3
    with pytest.raises(PermanentNetworkError):
        await anext(aiter(network.stream(StreamRequest(terms=(" ",)))))


def _history_request(network: SimulatedNetwork, hours: float, **kw: object) -> SearchRequest:
    start = network.world.now
    return SearchRequest(
        terms=("Resonanz", "acme"),
        since=start - timedelta(hours=hours),
        until=start - timedelta(hours=hours / 2),
        **kw,  # type: ignore[arg-type]
    )


async def test_history_pages_through_a_past_range_once(network: SimulatedNetwork) -> None:
    request = _history_request(network, 2, limit=25)
    assert request.since is not None
    assert request.until is not None
    seen: list[RawMention] = []
    cursor = None
    for _ in range(100):
        page = await network.search(SearchRequest(**{**request.__dict__, "cursor": cursor}))
        seen.extend(page.mentions)
        if len(page.mentions) < 25:
            break
        cursor = page.next_cursor
    ids = [m.external_id for m in seen]
    assert len(ids) > 25, "an hour of history has more than one page about the brand and the term"
    assert len(ids) == len(set(ids))
    assert all(request.since <= m.published_at < request.until for m in seen)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)  # oldest first, by sequence number
    assert any("acme" in m.text.casefold() for m in seen)  # a searched term is talked about in history
    assert all("resonanz" in m.text.casefold() or "acme" in m.text.casefold() for m in seen)
    # one big page finds the same posts
    whole = await network.search(SearchRequest(**{**request.__dict__, "limit": 500}))
    assert [m.external_id for m in whole.mentions] == ids


async def test_history_is_the_same_in_every_world_of_a_seed() -> None:
    def make() -> SimulatedNetwork:
        return SimulatedNetwork(SimulatedWorld(7, ManualClock()), settings=Settings(simulated_faults=""))

    first, second = make(), make()
    a = await first.search(_history_request(first, 1, limit=200))
    b = await second.search(_history_request(second, 1, limit=200))
    assert a.mentions
    assert [(m.external_id, m.text) for m in a.mentions] == [(m.external_id, m.text) for m in b.mentions]


async def test_live_search_ignores_history_and_until_limits_live_posts(
    network: SimulatedNetwork, clock: ManualClock
) -> None:
    start = network.world.now
    clock.advance(3600)
    live = await network.search(SearchRequest(terms=("Resonanz",), limit=500))
    assert live.mentions
    assert all(m.published_at >= start for m in live.mentions)
    cut = start + timedelta(minutes=30)
    bounded = await network.search(SearchRequest(terms=("Resonanz",), since=start, until=cut, limit=500))
    assert bounded.mentions
    assert [m.external_id for m in bounded.mentions] == [
        m.external_id for m in live.mentions if m.published_at < cut
    ]
