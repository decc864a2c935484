"""When a post asks to be published: the schedule of a CreatePost request, and local-time conversion.

A request names at most one of ``scheduled_at`` (an instant), ``local_time`` (a wall-clock time in an
IANA time zone) and ``next_free_slot`` (each target's account queue); none of them means "now".
The post stores the mode (``now``, ``at``, ``queue``) and, for ``at``, the instant in UTC; the target
times are set only when the post enters SCHEDULED (see ``workflow``).

Local times: a wall-clock time that does not exist in its zone (the hour skipped when the clocks go
forward) is refused; an ambiguous one (the hour repeated when they go back) means its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest
from resonanz_sdk.grpc import Validator

from resonanz_publishing.convert import from_timestamp, utc

MODE_NOW = "now"
MODE_AT = "at"
MODE_QUEUE = "queue"

#: How far in the past an explicit time may be (clock skew, a slow request).
MAX_PAST = timedelta(seconds=60)
MAX_AHEAD = timedelta(days=730)
MAX_TIME_ZONE_LENGTH = 64


@dataclass(frozen=True)
class Schedule:
    mode: str
    #: The instant (UTC) for mode ``at``; ``None`` otherwise.
    at: datetime | None = None
    #: The IANA zone of a local-time schedule (for display); empty otherwise.
    time_zone: str = ""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` when it is unknown or malformed."""
    if not name or len(name) > MAX_TIME_ZONE_LENGTH or name.startswith("/") or ".." in name:
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from None


def parse_local(date_time: str) -> datetime:
    """ISO 8601 without offset (``YYYY-MM-DDTHH:MM[:SS]``) as a naive datetime; ``ValueError`` if not."""
    try:
        value = datetime.fromisoformat(date_time)
    except ValueError:
        raise ValueError("must be YYYY-MM-DDTHH:MM[:SS] without an offset") from None
    if value.tzinfo is not None:
        raise ValueError("must not carry an offset: the time zone goes into local_time.time_zone")
    if "T" not in date_time and " " not in date_time:
        raise ValueError("needs a time of day: YYYY-MM-DDTHH:MM")
    return value


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time ``local`` in ``tz``.

    Raises ``ValueError`` for a time in a DST gap; an ambiguous time resolves to its first occurrence.
    """
    first = local.replace(tzinfo=tz, fold=0)
    as_utc = first.astimezone(UTC)
    # A non-existent local time does not survive the round trip (it comes back shifted by the gap).
    if as_utc.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError(f"{local.isoformat()} does not exist in {tz.key} (the clocks skip it)")
    return as_utc


def check_schedule(v: Validator, request: CreatePostRequest, now: datetime) -> Schedule:
    """Record every schedule problem of ``request`` in ``v``; the schedule it asks for."""
    has_at = request.HasField("scheduled_at")
    has_local = request.HasField("local_time")
    chosen = sum((has_at, has_local, request.next_free_slot))
    if chosen > 1:
        v.add("scheduled_at", "give at most one of scheduled_at, local_time and next_free_slot")
        return Schedule(MODE_NOW)
    if request.next_free_slot:
        return Schedule(MODE_QUEUE)
    if has_at:
        at = from_timestamp(request.scheduled_at)
        _check_window(v, at, now, "scheduled_at")
        return Schedule(MODE_AT, at)
    if has_local:
        return _local_schedule(v, request, now)
    return Schedule(MODE_NOW)


def _local_schedule(v: Validator, request: CreatePostRequest, now: datetime) -> Schedule:
    local_time = request.local_time
    tz: ZoneInfo | None = None
    local: datetime | None = None
    try:
        tz = zone(local_time.time_zone)
    except ValueError as exc:
        v.add("local_time.time_zone", str(exc))
    try:
        local = parse_local(local_time.date_time)
    except ValueError as exc:
        v.add("local_time.date_time", str(exc))
    if tz is None or local is None:
        return Schedule(MODE_NOW)
    try:
        at = local_to_utc(local, tz)
    except ValueError as exc:
        v.add("local_time.date_time", str(exc))
        return Schedule(MODE_NOW)
    _check_window(v, at, now, "local_time.date_time")
    return Schedule(MODE_AT, at, tz.key)


def _check_window(v: Validator, at: datetime, now: datetime, field: str) -> None:
    v.require(at >= now - MAX_PAST, field, f"{at.isoformat()} is in the past")
    v.require(at <= now + MAX_AHEAD, field, "must be at most 2 years ahead")


def due_time(schedule: Schedule, now: datetime) -> tuple[datetime, bool]:
    """When a post with ``schedule`` (mode ``now`` or ``at``) falls due when it is scheduled at ``now``.

    Returns the time and whether an explicit time had already passed (then it is ``now``).
    """
    if schedule.mode == MODE_AT and schedule.at is not None:
        at = utc(schedule.at)
        if at < now:
            return now, True
        return at, False
    return now, False
