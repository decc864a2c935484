"""Time buckets and windows shared by the streaming app and the API.

Every datetime returned is timezone-aware UTC. A naive datetime passed in is taken as UTC (protobuf's
``Timestamp.ToDatetime()`` returns naive UTC datetimes). Buckets are aligned to the Unix epoch: a
bucket of length ``b`` starts at ``epoch + k*b``, so every replica agrees on bucket boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resonanz_scoring.analytics.errors import InvalidInputError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


def as_utc(t: datetime) -> datetime:
    """``t`` as an aware UTC datetime (naive means UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _check_bucket(bucket: timedelta) -> int:
    micros = bucket // _ONE_MICROSECOND
    if micros <= 0:
        raise InvalidInputError(f"bucket length must be positive, got {bucket}")
    return micros


def bucket_start(t: datetime, bucket: timedelta) -> datetime:
    """Start of the epoch-aligned bucket of length ``bucket`` that contains ``t``."""
    micros = _check_bucket(bucket)
    offset = (as_utc(t) - EPOCH) // _ONE_MICROSECOND
    return EPOCH + timedelta(microseconds=offset - offset % micros)


def bucket_starts(start: datetime, end: datetime, bucket: timedelta) -> list[datetime]:
    """Starts of every bucket that overlaps ``[start, end)``, oldest first (empty buckets included)."""
    _check_bucket(bucket)
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    first = bucket_start(start, bucket)
    count = -((first - end) // bucket)  # ceil((end - first) / bucket)
    return [first + i * bucket for i in range(count)]


def trailing_window(end: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """``(end - length, end)``: the window of ``length`` ending at ``end``."""
    if length <= timedelta(0):
        raise InvalidInputError(f"window length must be positive, got {length}")
    end = as_utc(end)
    return end - length, end


def previous_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window of the same length just before ``[start, end]``: ``(start - (end - start), start)``."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise InvalidInputError(f"window end {end} must be after its start {start}")
    return start - (end - start), start


def percent_delta(current: float, previous: float) -> float:
    """Relative change ``(current - previous) / previous`` as a fraction (0.25 = +25 %).

    0 when there is no previous value (``previous == 0``): a change from nothing has no meaningful
    ratio, and the API reports the previous count beside it. This is the ``mention_count_delta`` of
    ``BrandScores``.
    """
    if previous == 0:
        return 0.0
    return (current - previous) / abs(previous)
