"""Errors of the metrics library: bad input to a metric, or a saved state that cannot be read."""

from __future__ import annotations

from resonanz_sdk.errors import ResonanzError


class AnalyticsError(ResonanzError, ValueError):
    """Root of the metrics library's errors (also a ValueError: the input was wrong)."""


class InvalidInputError(AnalyticsError):
    """An argument is out of its domain (a negative count, a zero-length bucket, a cyclic tree)."""


class InvalidStateError(AnalyticsError):
    """A saved state (``from_state``) is not one this version wrote or can read."""
