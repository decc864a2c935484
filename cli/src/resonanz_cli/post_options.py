"""What a post is made of, as the CLI and the CSV import collect it, and how it becomes a request.

:class:`PostOptions` holds parsed values; ``None`` means "not given", so ``posts update`` can keep the
post's current value and ``posts create`` / the import can leave the field empty. :func:`apply` writes
the given values onto a ``CreatePostRequest`` (a fresh one for create, the current post's for update).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import typer
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2

from resonanz_cli.options import parse_at, parse_local_time, parse_time_zone

#: UTM parameter names, as options (``--utm-source``) and CSV columns (``utm_source``) name them.
UTM_FIELDS = ("source", "medium", "campaign", "term", "content")

#: What ``posts update --clear`` can empty.
CLEARABLE = ("labels", "media", "variants", "campaign", "utm", "schedule")


@dataclass(frozen=True)
class Schedule:
    """When to publish: exactly one of a moment, a local time in a zone, or the next free queue slot."""

    at: datetime | None = None
    local_time: str = ""
    time_zone: str = ""
    next_slot: bool = False


def parse_schedule(
    *,
    at: str | None,
    local: str | None,
    tz: str | None,
    next_slot: bool,
    hints: tuple[str, str, str, str] = ("--at", "--local", "--tz", "--next-slot"),
    require_offset: bool = False,
) -> Schedule | None:
    """Check that at most one way of scheduling is used and parse it; ``None`` when none is given.

    ``hints`` name the four inputs (options, or CSV columns) in messages.
    """
    at_hint, local_hint, tz_hint, slot_hint = hints
    given = [name for name, used in ((at_hint, at), (local_hint, local), (slot_hint, next_slot)) if used]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give at most one of {at_hint}, {local_hint} (with {tz_hint}) and {slot_hint}",
            param_hint=" / ".join(given),
        )
    if tz and not local:
        raise typer.BadParameter(f"{tz_hint} needs {local_hint}", param_hint=tz_hint)
    if at:
        return Schedule(at=parse_at(at, param_hint=at_hint, require_offset=require_offset))
    if local:
        if not tz:
            raise typer.BadParameter(
                f"{local_hint} needs {tz_hint} (e.g. Europe/Berlin)", param_hint=local_hint
            )
        zone = parse_time_zone(tz, param_hint=tz_hint)
        return Schedule(local_time=parse_local_time(local, zone, param_hint=local_hint), time_zone=zone)
    if next_slot:
        return Schedule(next_slot=True)
    return None


@dataclass
class PostOptions:
    """Parsed post fields; ``None`` (or an empty ``utm``) means the field was not given."""

    text: str | None = None
    targets: list[tuple[str, str]] | None = None
    media_ids: list[str] | None = None
    variants: list[tuple[str, str]] | None = None
    campaign_id: str | None = None
    labels: list[str] | None = None
    utm: dict[str, str] = field(default_factory=dict)
    schedule: Schedule | None = None
    draft: bool = False
    idempotency_key: str | None = None


def utm_of(**values: str | None) -> dict[str, str]:
    """The UTM parameters that were given: ``utm_of(source="x", medium=None)`` -> ``{"source": "x"}``."""
    return {name: value for name, value in values.items() if value is not None and name in UTM_FIELDS}


def clear(request: publishing_pb2.CreatePostRequest, what: str) -> None:
    """Empty one of :data:`CLEARABLE` on ``request``."""
    if what == "labels":
        del request.labels[:]
    elif what == "media":
        del request.media[:]
    elif what == "variants":
        del request.variants[:]
    elif what == "campaign":
        request.campaign_id = ""
    elif what == "utm":
        request.ClearField("utm")
    elif what == "schedule":
        _clear_schedule(request)


def _clear_schedule(request: publishing_pb2.CreatePostRequest) -> None:
    request.ClearField("scheduled_at")
    request.ClearField("local_time")
    request.next_free_slot = False


def apply(
    options: PostOptions, request: publishing_pb2.CreatePostRequest
) -> publishing_pb2.CreatePostRequest:
    """Write every given field of ``options`` onto ``request`` (in place) and return it."""
    if options.text is not None:
        request.text = options.text
    if options.targets is not None:
        del request.targets[:]
        request.targets.extend(publishing_pb2.TargetSpec(network=n, account=a) for n, a in options.targets)
    if options.media_ids is not None:
        del request.media[:]
        request.media.extend(content_pb2.MediaItem(id=media_id) for media_id in options.media_ids)
    if options.variants is not None:
        del request.variants[:]
        request.variants.extend(content_pb2.NetworkVariant(network=n, text=t) for n, t in options.variants)
    if options.campaign_id is not None:
        request.campaign_id = options.campaign_id
    if options.labels is not None:
        del request.labels[:]
        request.labels.extend(options.labels)
    for name, value in options.utm.items():
        setattr(request.utm, name, value)
    if options.schedule is not None:
        _apply_schedule(options.schedule, request)
    if options.draft:
        request.draft = True
    if options.idempotency_key is not None:
        request.idempotency_key = options.idempotency_key
    return request


def _apply_schedule(schedule: Schedule, request: publishing_pb2.CreatePostRequest) -> None:
    _clear_schedule(request)
    if schedule.at is not None:
        moment = Timestamp()
        moment.FromDatetime(schedule.at)
        request.scheduled_at.CopyFrom(moment)
    elif schedule.local_time:
        request.local_time.CopyFrom(
            publishing_pb2.LocalDateTime(date_time=schedule.local_time, time_zone=schedule.time_zone)
        )
    else:
        request.next_free_slot = schedule.next_slot


def request_from_post(post: content_pb2.Post, now: datetime) -> tuple[publishing_pb2.CreatePostRequest, str]:
    """The request that recreates ``post``'s content and schedule (the base of ``posts update``), and
    why its schedule cannot be kept ("" when it can).

    Media go by id (the service fills in what it stored). The schedule follows ``post.schedule_mode``
    (see :func:`keep_schedule`); only a server too old to report it leaves it to :func:`infer_schedule`.
    """
    request = publishing_pb2.CreatePostRequest(
        text=post.text,
        media=[content_pb2.MediaItem(id=m.id, alt_text=m.alt_text) if m.id else m for m in post.media],
        variants=post.variants,
        targets=[publishing_pb2.TargetSpec(network=t.network, account=t.account) for t in post.targets],
        campaign_id=post.campaign_id,
        labels=post.labels,
    )
    if post.HasField("utm"):
        request.utm.CopyFrom(post.utm)
    if post.schedule_mode == content_pb2.SCHEDULE_MODE_UNSPECIFIED:
        return request, infer_schedule(post, request, now)
    return request, keep_schedule(post, request, now)


def keep_schedule(post: content_pb2.Post, request: publishing_pb2.CreatePostRequest, now: datetime) -> str:
    """Ask in ``request`` for the schedule ``post`` was given, as its ``schedule_mode`` says; return
    why that is not possible ("" when it is).

    NOW sends no schedule (as soon as it is scheduled), NEXT_FREE_SLOT the next free queue slots, AT
    its time: as a local time in ``post.time_zone`` when it has one, so that the wall-clock time stays
    what was asked for. The service refuses a time that has passed: a scheduled post is due then and
    goes out as soon as possible, as the service itself would do; for one not scheduled yet the caller
    has to ask.
    """
    if post.schedule_mode == content_pb2.SCHEDULE_MODE_NEXT_FREE_SLOT:
        request.next_free_slot = True
    elif post.schedule_mode == content_pb2.SCHEDULE_MODE_AT and post.HasField("scheduled_at"):
        at = post.scheduled_at.ToDatetime(tzinfo=UTC)
        if at > now:
            local = local_time_of(at, post.time_zone) if post.time_zone else None
            if local is not None:
                request.local_time.CopyFrom(local)
            else:
                request.scheduled_at.CopyFrom(post.scheduled_at)
        elif post.status in _NOT_SCHEDULED_YET:
            return f"was to go out at {at.strftime('%Y-%m-%d %H:%M:%SZ')}, which has passed"
    return ""


def local_time_of(at: datetime, time_zone: str) -> publishing_pb2.LocalDateTime | None:
    """``at`` as the wall-clock time in ``time_zone`` that the service turns back into ``at``; ``None``
    when there is none (a zone unknown here, or the second of two equal wall-clock times when the
    clocks go back: the service would take the first)."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = at.astimezone(zone).replace(tzinfo=None)
    if local.replace(tzinfo=zone, fold=0).astimezone(UTC) != at:
        return None
    spec = "microseconds" if local.microsecond else "seconds" if local.second else "minutes"
    return publishing_pb2.LocalDateTime(date_time=local.isoformat(timespec=spec), time_zone=time_zone)


def infer_schedule(post: content_pb2.Post, request: publishing_pb2.CreatePostRequest, now: datetime) -> str:
    """For a server that does not report ``schedule_mode``: guess the schedule from the times, ask for
    it in ``request`` and return why it cannot be told ("" when it can).

    Targets due at different times were put into queue slots and go into the next free slots again; a
    time in the future stays that time; a scheduled post whose time has passed goes out as soon as
    possible. A post not scheduled yet whose time has passed was either to go out at once or into queue
    slots not claimed yet: that is unknown, and the caller has to ask.
    """
    target_times = {t.scheduled_at.ToNanoseconds() for t in post.targets if t.HasField("scheduled_at")}
    post_time = post.scheduled_at.ToNanoseconds() if post.HasField("scheduled_at") else None
    if target_times - {post_time}:
        request.next_free_slot = True
    elif post.HasField("scheduled_at") and post.scheduled_at.ToDatetime(tzinfo=UTC) > now:
        request.scheduled_at.CopyFrom(post.scheduled_at)
    elif post.status in _NOT_SCHEDULED_YET and not target_times:
        return "has no time ahead of it"
    return ""


_NOT_SCHEDULED_YET = frozenset(
    {content_pb2.POST_STATUS_DRAFT, content_pb2.POST_STATUS_IN_REVIEW, content_pb2.POST_STATUS_APPROVED}
)
