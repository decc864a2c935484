"""Clocks that drive the simulated world: a manual one for tests, a scaled real one for everything else."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the world what time it is; the world never looks at the wall clock itself."""

    def now(self) -> datetime:
        """The current simulated time, timezone-aware (UTC)."""
        ...


class ManualClock:
    """A clock that only moves when told to: tests drive the world step by step."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> datetime:
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError("a clock never goes back")
        self._now = when
        return self._now


class ScaledClock:
    """Real time, sped up: ``speed`` simulated seconds pass per real second, starting at ``start``.

    ``start`` defaults to the wall-clock time when the clock is created, so at speed 1 simulated
    timestamps are real timestamps. At other speeds the network shows the outside world wall-clock
    timestamps (:meth:`to_wall`): the simulation runs faster, but nothing it reports lies in the future,
    so time windows of the services downstream see it as happening now.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def to_wall(self, simulated: datetime) -> datetime:
        """The wall-clock time at which the simulation reached ``simulated``."""
        return self._start + (simulated.astimezone(UTC) - self._start) / self.speed

    def to_simulated(self, wall: datetime) -> datetime:
        """The simulated time at wall-clock time ``wall`` (inverse of :meth:`to_wall`)."""
        return self._start + (wall.astimezone(UTC) - self._start) * self.speed
