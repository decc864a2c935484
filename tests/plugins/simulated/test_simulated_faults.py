"""Fault injection: the next N calls fail the way real networks fail, then the network recovers."""

from __future__ import annotations

import pytest
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    ConfigurationError,
    PermanentNetworkError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.network import AccountRef, OutgoingPost, SearchRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.faults import FaultKind
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

BRAND = AccountRef(network="simulated", handle="resonanz")
POST = OutgoingPost(text="Hallo Welt", idempotency_key="f1")


async def test_injected_rate_limits_fail_the_next_calls_then_publish_works(network: SimulatedNetwork) -> None:
    network.inject_fault("publish", FaultKind.RATE_LIMITED, count=2, retry_after=30)
    for _ in range(2):
        with pytest.raises(RateLimitedError) as caught:
            await network.publish(BRAND, POST)
        assert caught.value.retry_after == 30
        assert caught.value.network == "simulated"
        assert await network.find_published(BRAND, "f1") is None
    published = await network.publish(BRAND, POST)
    assert await network.find_published(BRAND, "f1") == published
    assert network.faults.pending == 0


async def test_faults_only_hit_their_operation(network: SimulatedNetwork, clock: ManualClock) -> None:
    network.inject_fault("search", "transient", count=1)
    await network.publish(BRAND, POST)  # not affected
    with pytest.raises(TransientNetworkError) as caught:
        await network.search(SearchRequest(terms=("Resonanz",)))
    assert not isinstance(caught.value, RateLimitedError)
    clock.advance(60)
    page = await network.search(SearchRequest(terms=("Resonanz",)))
    assert page.mentions


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.TRANSIENT, TransientNetworkError),
        (FaultKind.PERMANENT, PermanentNetworkError),
        (FaultKind.AUTH, AuthenticationFailedError),
        (FaultKind.RATE_LIMITED, RateLimitedError),
    ],
)
async def test_every_kind_and_the_wildcard(
    network: SimulatedNetwork, kind: FaultKind, error: type[Exception]
) -> None:
    network.inject_fault("*", kind, count=3)
    with pytest.raises(error):
        await network.engagement(["1"])
    with pytest.raises(error):
        await network.delete(BRAND, "1")
    with pytest.raises(error):
        await network.find_published(BRAND, "x")
    assert await network.engagement(["1"]) == {}


async def test_faults_from_settings(world: SimulatedWorld) -> None:
    settings = Settings(simulated_faults="publish:rate_limited:1:12.5, search:transient:2")
    network = SimulatedNetwork(world, settings=settings)
    with pytest.raises(RateLimitedError) as caught:
        await network.publish(BRAND, POST)
    assert caught.value.retry_after == 12.5
    await network.publish(BRAND, POST)
    for _ in range(2):
        with pytest.raises(TransientNetworkError):
            await network.search(SearchRequest(terms=("x",)))
    await network.search(SearchRequest(terms=("x",)))


@pytest.mark.parametrize("spec", ["publish", "publish:explode:1", "nope:transient:1", "search:transient:x"])
def test_malformed_fault_settings_are_a_configuration_error(world: SimulatedWorld, spec: str) -> None:
    with pytest.raises(ConfigurationError, match="RESONANZ_SIMULATED_FAULTS"):
        SimulatedNetwork(world, settings=Settings(simulated_faults=spec))


def test_faults_can_be_cleared(network: SimulatedNetwork) -> None:
    network.inject_fault("publish", FaultKind.TRANSIENT, count=5)
    assert network.faults.pending == 5
    network.faults.clear()
    assert network.faults.pending == 0
    with pytest.raises(ValueError, match="operation"):
        network.inject_fault("tweet", FaultKind.TRANSIENT)
