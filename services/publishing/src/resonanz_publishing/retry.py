"""Retry delays for publishing: capped exponential backoff with jitter, honouring retry_after."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The network's ``retry_after`` is a floor (never retry earlier than it asks), capped at
        ``max_seconds`` like the backoff itself. Use :meth:`retry_delay` where a wait longer than
        ``max_seconds`` can be handed back to the dispatcher instead of sleeping.
        """
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        jittered = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None and retry_after > 0:
            jittered = max(jittered, retry_after)
        return min(jittered, self.max_seconds)

    def retry_delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Like :meth:`delay`, but never shorter than ``retry_after``, however long the network asks.

        The jittered backoff stays capped at ``max_seconds``; a network's Retry-After is obeyed in
        full (the worker defers long waits to the dispatcher rather than sleeping through them).
        """
        backoff = self.delay(attempt, rng=rng)
        if retry_after is not None and retry_after > backoff:
            return retry_after
        return backoff

    def gives_up_after(self, attempt: int) -> bool:
        """Whether ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts
