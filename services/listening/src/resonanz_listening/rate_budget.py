"""Per-network search budgets of one replica: token buckets from the manifest, and 429 back-off.

Each ``RateLimit`` of the manifest for ``search`` becomes a token bucket that never lets more than
``requests`` calls through in any window of ``per_seconds``: with a burst of ``f * requests`` tokens
(``f = BURST_SHARE``) and a refill of ``(1 - f) * requests / per_seconds`` per second, any window
sees at most ``f * R + (1 - f) * R = R`` calls. An ``app``-scoped limit is shared by every replica,
so each replica takes ``1 / live replicas`` of it (re-computed at every lease sync). A search page is
one token: a query's cost is the number of pages it asks for.

A 429 (``RateLimitedError``) blocks the whole network until ``retry_after`` (or an exponential
back-off with jitter when the network gave none), for every query of this replica on it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from resonanz_sdk.manifest import RateLimit, RateLimitScope
from resonanz_sdk.network import Network

#: Share of a limit that may be spent in one burst; the rest refills evenly over the window.
BURST_SHARE = 0.1
#: Token shortfalls below this count as none (floating-point refill arithmetic).
_EPSILON = 1e-9


def backoff_delay(
    failures: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure.

    ``retry_after`` (the network's own advice) wins when given, capped at ``cap``; otherwise
    ``min(cap, base * 2 ** (failures - 1))`` scaled by a jitter factor in [0.5, 1).
    """
    if retry_after is not None and retry_after >= 0:
        return min(cap, retry_after)
    exponential = min(cap, base * 2.0 ** max(0, failures - 1))
    jitter: float = (rng or random).random()
    return exponential * (0.5 + 0.5 * jitter)


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second (``clock`` in seconds)."""

    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    share: float = 1.0
    tokens: float = field(init=False)
    _updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self._updated = self.clock()

    @property
    def capacity(self) -> float:
        return max(1.0, BURST_SHARE * self.limit.requests * self.share)

    @property
    def rate(self) -> float:
        return (1 - BURST_SHARE) * self.limit.requests * self.share / self.limit.per_seconds

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are available (0 when they are now)."""
        self._refill()
        missing = min(n, self.capacity) - self.tokens
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def take(self, n: float = 1.0) -> None:
        self._refill()
        self.tokens -= n


class NetworkBudget:
    """The search budget of one network on this replica."""

    def __init__(self, network: Network, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.network = network.name
        self._clock = clock
        self._buckets = [TokenBucket(limit, clock) for limit in network.manifest.rate_limit("search")]
        self.blocked_until = 0.0
        self.failures = 0

    def set_live_replicas(self, live: int) -> None:
        for bucket in self._buckets:
            if bucket.limit.scope is RateLimitScope.APP:
                bucket.share = 1.0 / max(1, live)
                bucket.tokens = min(bucket.tokens, bucket.capacity)

    def wait_time(self) -> float:
        """Seconds until one search call may go out (the 429 block and every bucket)."""
        blocked = max(0.0, self.blocked_until - self._clock())
        return max([blocked, *(b.wait_time() for b in self._buckets)])

    def try_take(self) -> bool:
        """Spend one call now if the budget allows it."""
        if self.wait_time() > 0:
            return False
        for bucket in self._buckets:
            bucket.take()
        return True

    async def take(self, stopping: asyncio.Event | None = None) -> bool:
        """Wait for one call's budget (False when ``stopping`` was set first)."""
        while True:
            wait = self.wait_time()
            if wait <= 0:
                self.try_take()
                return True
            if stopping is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(stopping.wait(), wait)
                return False
            except TimeoutError:
                continue

    def rate_limited(self, delay: float) -> None:
        """A 429: block the network for ``delay`` seconds."""
        self.failures += 1
        self.blocked_until = max(self.blocked_until, self._clock() + delay)

    def succeeded(self) -> None:
        self.failures = 0


class Budgets:
    """Every network's budget on this replica."""

    def __init__(
        self, networks: Mapping[str, Network], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._budgets = {name: NetworkBudget(network, clock=clock) for name, network in networks.items()}

    def __getitem__(self, network: str) -> NetworkBudget:
        return self._budgets[network]

    def set_live_replicas(self, live: int) -> None:
        for budget in self._budgets.values():
            budget.set_live_replicas(live)
