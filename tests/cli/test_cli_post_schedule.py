"""``post_options.local_time_of`` and ``keep_schedule``: how ``posts update`` sends back the schedule a
post reports, on real protobuf messages and the real tz database.
"""

from __future__ import annotations

from datetime import UTC, datetime

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2
from resonanz_cli.post_options import keep_schedule, local_time_of

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _post(
    at: datetime, *, zone: str = "", status: content_pb2.PostStatus.ValueType = content_pb2.POST_STATUS_DRAFT
) -> content_pb2.Post:
    ts = Timestamp()
    ts.FromDatetime(at)
    return content_pb2.Post(
        id="p1",
        status=status,
        scheduled_at=ts,
        schedule_mode=content_pb2.SCHEDULE_MODE_AT,
        time_zone=zone,
    )


def test_local_time_of_is_the_wall_clock_time_in_the_zone() -> None:
    local = local_time_of(datetime(2030, 7, 1, 7, 30, tzinfo=UTC), "Europe/Berlin")
    assert local is not None
    assert (local.date_time, local.time_zone) == ("2030-07-01T09:30", "Europe/Berlin")
    seconds = local_time_of(datetime(2030, 7, 1, 7, 30, 15, tzinfo=UTC), "Europe/Berlin")
    assert seconds is not None
    assert seconds.date_time == "2030-07-01T09:30:15"


def test_local_time_of_a_repeated_hour() -> None:
    # 2030-10-27 02:30 happens twice in Berlin; the service reads it as the first (00:30Z)
    first = local_time_of(datetime(2030, 10, 27, 0, 30, tzinfo=UTC), "Europe/Berlin")
    assert first is not None
    assert first.date_time == "2030-10-27T02:30"
    # the second (01:30Z) cannot be said as a local time: the caller sends the instant
    assert local_time_of(datetime(2030, 10, 27, 1, 30, tzinfo=UTC), "Europe/Berlin") is None


def test_local_time_of_an_unknown_zone_is_none() -> None:
    assert local_time_of(datetime(2030, 7, 1, tzinfo=UTC), "Mars/Olympus_Mons") is None


def test_keep_schedule_sends_the_instant_when_the_local_time_cannot_say_it() -> None:
    request = publishing_pb2.CreatePostRequest()
    at = datetime(2030, 10, 27, 1, 30, tzinfo=UTC)
    assert keep_schedule(_post(at, zone="Europe/Berlin"), request, NOW) == ""
    assert not request.HasField("local_time")
    assert request.scheduled_at.ToDatetime(tzinfo=UTC) == at


def test_keep_schedule_of_a_passed_time() -> None:
    passed = datetime(2029, 12, 31, 23, 0, tzinfo=UTC)
    request = publishing_pb2.CreatePostRequest()
    problem = keep_schedule(_post(passed, zone="Europe/Berlin"), request, NOW)
    assert problem == "was to go out at 2029-12-31 23:00:00Z, which has passed"
    scheduled = _post(passed, status=content_pb2.POST_STATUS_SCHEDULED)
    assert keep_schedule(scheduled, request, NOW) == ""
    assert not request.HasField("scheduled_at")
    assert not request.HasField("local_time")
