"""A sped-up simulated network never reports timestamps in the future."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from resonanz_sdk.network import SearchRequest
from resonanz_simulated.clock import ScaledClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld


def test_to_wall_and_back_are_inverse() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = ScaledClock(speed=60.0, start=start)
    simulated = start + timedelta(hours=1)
    assert clock.to_wall(simulated) == start + timedelta(minutes=1)
    assert clock.to_simulated(clock.to_wall(simulated)) == simulated


async def test_fast_world_reports_wall_clock_timestamps() -> None:
    world = SimulatedWorld(7, ScaledClock(speed=600.0))
    network = SimulatedNetwork(world)
    await asyncio.sleep(0.5)  # five simulated minutes
    page = await network.search(SearchRequest(terms=("Resonanz", "Klangwerk")))
    assert page.mentions, "a sped-up world talks about the brands within minutes"
    now = datetime.now(UTC)
    assert all(m.published_at <= now + timedelta(seconds=1) for m in page.mentions)
