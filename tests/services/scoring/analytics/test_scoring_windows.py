"""Bucket alignment, windows and relative change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_scoring.analytics.windows import (
    bucket_start,
    bucket_starts,
    percent_delta,
    previous_window,
    trailing_window,
)

FIFTEEN = timedelta(minutes=15)


def test_bucket_start_aligns_to_the_epoch_grid_in_utc() -> None:
    assert bucket_start(datetime(2026, 3, 1, 10, 44, 59, tzinfo=UTC), FIFTEEN) == datetime(
        2026, 3, 1, 10, 30, tzinfo=UTC
    )
    assert bucket_start(datetime(2026, 3, 1, 10, 45, tzinfo=UTC), FIFTEEN) == datetime(
        2026, 3, 1, 10, 45, tzinfo=UTC
    )
    # Naive means UTC; other offsets are converted.
    assert bucket_start(datetime(2026, 3, 1, 10, 44), FIFTEEN) == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    assert bucket_start(datetime(2026, 3, 1, 11, 44, tzinfo=cet), FIFTEEN) == datetime(
        2026, 3, 1, 10, 30, tzinfo=UTC
    )
    assert bucket_start(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), timedelta(days=1)) == datetime(
        2026, 3, 1, tzinfo=UTC
    )


def test_bucket_starts_cover_the_range_with_empty_buckets() -> None:
    start = datetime(2026, 3, 1, 10, 7, tzinfo=UTC)
    starts = bucket_starts(start, start + timedelta(hours=1), FIFTEEN)
    assert starts == [datetime(2026, 3, 1, 10, 0, tzinfo=UTC) + i * FIFTEEN for i in range(5)]
    exact = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert len(bucket_starts(exact, exact + timedelta(hours=1), FIFTEEN)) == 4
    assert bucket_starts(exact, exact, FIFTEEN) == []


def test_windows() -> None:
    end = datetime(2026, 3, 2, tzinfo=UTC)
    start, end2 = trailing_window(end, timedelta(days=1))
    assert (start, end2) == (datetime(2026, 3, 1, tzinfo=UTC), end)
    assert previous_window(start, end) == (datetime(2026, 2, 28, tzinfo=UTC), start)


def test_invalid_buckets_and_windows_are_refused() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(InvalidInputError):
        bucket_start(now, timedelta(0))
    with pytest.raises(InvalidInputError):
        trailing_window(now, timedelta(seconds=-1))
    with pytest.raises(InvalidInputError):
        previous_window(now, now)


def test_percent_delta_is_a_fraction_and_zero_without_a_previous_value() -> None:
    assert percent_delta(125, 100) == pytest.approx(0.25)
    assert percent_delta(50, 100) == pytest.approx(-0.5)
    assert percent_delta(7, 0) == 0.0
    assert percent_delta(0, 0) == 0.0


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=7 * 24 * 3600),
)
def test_a_time_lies_in_its_bucket(t: datetime, seconds: int) -> None:
    bucket = timedelta(seconds=seconds)
    start = bucket_start(t, bucket)
    assert start <= t < start + bucket
    assert bucket_start(start, bucket) == start
    assert bucket_starts(t, t + bucket, bucket)[0] == start
