"""The manifests' rate limits, counted in the database and shared by every worker replica (both DBs)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from delivery_helpers import ClockedNetwork, insert_post, open_engine, plugins_of, targets_of
from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import OutboxRow, RateWindowRow
from resonanz_publishing.ratelimit import RateLimiter, window_key, window_start
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.manifest import RateLimit, RateLimitScope
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with open_engine(database_url) as engine:
        yield engine


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_fixed_windows_per_account_and_per_app(engine: AsyncEngine) -> None:
    network = ClockedNetwork(
        rate_limits=(
            RateLimit("publish", 2, 60.0, RateLimitScope.ACCOUNT),
            RateLimit("*", 3, 60.0, RateLimitScope.APP),
        )
    )
    clock = FakeClock(1_200_020.0)  # 20 s into a window that started at 1,200,000
    limiter = RateLimiter(engine, clock=clock)
    m = network.manifest
    assert (await limiter.acquire(m, "publish", "@a")).allowed
    assert (await limiter.acquire(m, "publish", "@a")).allowed
    full = await limiter.acquire(m, "publish", "@a")
    assert not full.allowed
    assert full.limit == m.rate_limits[0]
    assert full.wait == pytest.approx(40.0)
    # The refused call was counted nowhere: the app window still has room for one more.
    assert (await limiter.acquire(m, "publish", "@b")).allowed
    app_full = await limiter.acquire(m, "delete", "@c")  # "*" counts every operation
    assert app_full.limit == m.rate_limits[1]
    assert await limiter.count(m, "publish", "@a") == {
        window_key("clocked", "@a", m.rate_limits[0]): 2,
        window_key("clocked", "@a", m.rate_limits[1]): 3,
    }
    # The next window starts empty; old windows are pruned.
    clock.now += 40.0
    assert (await limiter.acquire(m, "publish", "@a")).allowed
    clock.now += 9 * 86400
    assert await limiter.prune() == 5  # @a, @b and the app in the first window; @a and the app in the next
    assert window_start(1_200_020.0, 60.0) == 1_200_000


async def test_two_limiters_on_one_database_never_exceed_the_limit(
    database_url: str, engine: AsyncEngine
) -> None:
    network = ClockedNetwork(rate_limits=(RateLimit("publish", 7, 3600.0, RateLimitScope.ACCOUNT),))
    other = create_engine(database_url)
    try:
        limiters = [RateLimiter(engine), RateLimiter(other)]
        decisions = await asyncio.gather(
            *(limiters[i % 2].acquire(network.manifest, "publish", "@a") for i in range(40))
        )
    finally:
        await other.dispose()
    assert sum(d.allowed for d in decisions) == 7
    async with session_factory(engine)() as session:
        counts = list((await session.execute(select(RateWindowRow.count))).scalars())
    assert counts == [7]


async def test_two_workers_sharing_a_database_honour_the_manifest_limit(
    database_url: str, engine: AsyncEngine
) -> None:
    """Nine posts on one account, limit 3 per second, two worker instances with their own engines:
    every post goes out once, and no fixed window ever carries more than 3 calls."""
    limit = RateLimit("publish", 3, 1.0, RateLimitScope.ACCOUNT)
    network = ClockedNetwork(rate_limits=(limit,))
    for _ in range(9):
        await insert_post(engine, [("clocked", "@busy")])
    await Dispatcher(engine).dispatch_due()
    async with session_factory(engine)() as session:
        requests = [
            EventEnvelope.FromString(r.envelope).publish_requested
            for r in (await session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars()
        ]
    other = create_engine(database_url)
    try:
        workers = [
            PublishWorker(
                TargetLedger(e),
                plugins_of(network),
                BackoffPolicy(3, 0.01, 0.05),
                limiter=RateLimiter(e),
                inline_retry_max_seconds=math.inf,
            )
            for e in (engine, other)
        ]
        outcomes = await asyncio.gather(
            *(workers[i % 2].process("acme", request) for i, request in enumerate(requests))
        )
    finally:
        await other.dispose()
    assert outcomes == ["published"] * 9
    assert sorted(network.accepted.values()) == [1] * 9
    times = sorted(t for op, _, t, outcome in network.calls if op == "publish" and outcome == "ok")
    # Fixed windows: at most 2 x 3 calls fit in any stretch shorter than one window.
    for first, seventh in zip(times, times[6:], strict=False):
        assert seventh - first >= 0.9
    assert times[-1] - times[0] >= 0.9
    async with session_factory(engine)() as session:
        counts = list((await session.execute(select(RateWindowRow.count))).scalars())
    assert sum(counts) == 9
    assert max(counts) <= 3
    for request in requests:
        (target,) = await targets_of(engine, request.post_id)
        assert target.status == TargetStatus.TARGET_STATUS_PUBLISHED
        assert target.attempts == 1
