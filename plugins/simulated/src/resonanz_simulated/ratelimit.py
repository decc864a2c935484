"""Enforcing the manifest's rate limits, in simulated time, with a sliding window per scope key."""

from __future__ import annotations

import threading
from collections import deque

from resonanz_sdk.errors import RateLimitedError
from resonanz_sdk.manifest import RateLimit, RateLimitScope


class RateLimiter:
    """Refuses calls beyond the declared limits with :class:`RateLimitedError` and ``retry_after``."""

    def __init__(self, network: str, limits: tuple[RateLimit, ...], *, speed: float = 1.0) -> None:
        """``speed``: simulated seconds per real second; ``retry_after`` is reported in real seconds."""
        self._network = network
        self._speed = speed
        self._limits = limits
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, operation: str, account: str, now: float) -> None:
        """Count one call of ``operation`` at ``now`` (seconds), or raise when a limit is reached."""
        with self._lock:
            windows: list[tuple[RateLimit, deque[float]]] = []
            for limit in self._limits:
                if limit.operation not in (operation, "*"):
                    continue
                scope = account if limit.scope is RateLimitScope.ACCOUNT else ""
                calls = self._calls.setdefault((limit.operation, scope), deque())
                while calls and calls[0] <= now - limit.per_seconds:
                    calls.popleft()
                if len(calls) >= limit.requests:
                    retry_after = max(0.001, (calls[0] + limit.per_seconds - now) / self._speed)
                    raise RateLimitedError(
                        self._network,
                        f"rate limit of {limit.requests} {operation} calls per {limit.per_seconds:g} s",
                        retry_after=retry_after,
                    )
                windows.append((limit, calls))
            for _, calls in windows:
                calls.append(now)
