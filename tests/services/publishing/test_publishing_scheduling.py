"""Unit tests of schedule checks and local-time conversion (scheduling.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, LocalDateTime
from resonanz_publishing.scheduling import (
    MODE_AT,
    MODE_NOW,
    MODE_QUEUE,
    Schedule,
    check_schedule,
    due_time,
    local_to_utc,
)
from resonanz_sdk.grpc import Validator

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def schedule(request: CreatePostRequest) -> tuple[Schedule, dict[str, str]]:
    v = Validator()
    result = check_schedule(v, request, NOW)
    return result, {x.field: x.description for x in v.violations}


def test_local_time_in_summer_and_winter() -> None:
    assert local_to_utc(datetime(2026, 7, 1, 9, 30), BERLIN) == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 12, 1, 9, 30), BERLIN) == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def test_dst_gap_is_refused_and_ambiguous_time_is_its_first_occurrence() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        local_to_utc(datetime(2026, 3, 29, 2, 30), BERLIN)
    # 2026-10-25 02:30 happens twice in Berlin: first at 00:30 UTC (CEST), then 01:30 UTC (CET).
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_check_schedule_modes_and_errors() -> None:
    assert schedule(CreatePostRequest()) == (Schedule(MODE_NOW), {})
    assert schedule(CreatePostRequest(next_free_slot=True)) == (Schedule(MODE_QUEUE), {})
    local = CreatePostRequest(
        local_time=LocalDateTime(date_time="2026-12-01T09:30", time_zone="Europe/Berlin")
    )
    assert schedule(local) == (
        Schedule(MODE_AT, datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "Europe/Berlin"),
        {},
    )
    gap = CreatePostRequest(local_time=LocalDateTime(date_time="2026-03-29T02:30", time_zone="Europe/Berlin"))
    assert "does not exist" in schedule(gap)[1]["local_time.date_time"]
    bad = CreatePostRequest(
        local_time=LocalDateTime(date_time="2026-12-01T09:30+01:00", time_zone="Mars/Base")
    )
    assert set(schedule(bad)[1]) == {"local_time.date_time", "local_time.time_zone"}
    both = CreatePostRequest(next_free_slot=True, local_time=local.local_time)
    assert "at most one" in schedule(both)[1]["scheduled_at"]
    past = CreatePostRequest()
    past.scheduled_at.FromDatetime(NOW - timedelta(minutes=5))
    assert "past" in schedule(past)[1]["scheduled_at"]
    far = CreatePostRequest()
    far.scheduled_at.FromDatetime(NOW + timedelta(days=800))
    assert "2 years" in schedule(far)[1]["scheduled_at"]


def test_due_time_of_a_passed_time_is_now() -> None:
    assert due_time(Schedule(MODE_AT, NOW + timedelta(hours=1)), NOW) == (NOW + timedelta(hours=1), False)
    assert due_time(Schedule(MODE_AT, NOW - timedelta(hours=1)), NOW) == (NOW, True)
    assert due_time(Schedule(MODE_NOW), NOW) == (NOW, False)
