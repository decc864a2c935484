"""Fixtures of the simulated network tests: a manual clock, a fresh world and a network over it."""

from __future__ import annotations

import pytest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def world(clock: ManualClock) -> SimulatedWorld:
    return SimulatedWorld(42, clock)


@pytest.fixture
def network(world: SimulatedWorld) -> SimulatedNetwork:
    return SimulatedNetwork(world, settings=Settings(simulated_faults=""))
