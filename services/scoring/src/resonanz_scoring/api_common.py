"""What every ScoringService handler shares: its dependencies, request validation and cursors.

Validation collects every problem of a request in a :class:`~resonanz_sdk.grpc.Validator` and refuses
it once (INVALID_ARGUMENT with ``google.rpc.BadRequest`` naming each field). Page tokens are the sdk's
opaque, checksummed tokens around a keyset position; a position is only ever used together with the
caller's tenant in the WHERE clause, so an edited token can at worst page the caller's own rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc.aio
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import mention_pb2
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token
from resonanz_sdk.manifest import Manifest
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.convert import utc
from resonanz_scoring.models import ID_LEN, LABEL_LEN
from resonanz_scoring.scorer import MentionScorer

Context = grpc.aio.ServicerContext[Any, Any]

#: Longest trailing window any call accepts.
MAX_WINDOW = timedelta(days=366)
#: Default and largest ``limit`` of the top-N calls (ListTopAuthors, ListCascades).
DEFAULT_LIMIT = 20
MAX_LIMIT = 200
#: Largest ``page_size`` of the paged calls (0 means the sdk default, 50).
MAX_PAGE_SIZE = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


#: Resolves a tenant's labels to their listening query roles.
LabelRoles = Callable[[str], Awaitable[Mapping[str, "mention_pb2.QueryRole.ValueType"]]]


@dataclass(frozen=True)
class ApiDeps:
    """The servicer's collaborators.

    ``manifests`` returns the manifests of the loaded network plugins (ScoreDraft advises per network);
    ``scorer`` is the service's loaded sentiment scorer, or ``None`` when this process has none (then
    ScoreDraft answers FAILED_PRECONDITION); ``clock`` is the time "now" of trailing windows.
    """

    engine: AsyncEngine
    manifests: Callable[[], Sequence[Manifest]] = tuple
    scorer: MentionScorer | None = None
    clock: Callable[[], datetime] = utc_now
    #: The tenant's label -> query role (brand / competitor), for GetShareOfVoice; ``None``: unknown.
    label_roles: LabelRoles | None = None
    #: Seconds between two polls of the alerts table while StreamAlerts is live.
    alert_poll_seconds: float = 1.0


def label_of(v: Validator, label: str, field_name: str = "label", *, required: bool = True) -> str:
    """The trimmed label; required unless ``required`` is False (then ``""`` means every label)."""
    if required:
        v.non_empty(label, field_name)
    v.max_length(label, LABEL_LEN, field_name)
    return label.strip()


def duration_of(
    v: Validator,
    duration: Duration,
    present: bool,
    field_name: str,
    *,
    default: timedelta,
    minimum: timedelta = timedelta(seconds=1),
    maximum: timedelta = MAX_WINDOW,
) -> timedelta:
    """A Duration field: ``default`` when unset, else within ``minimum .. maximum``."""
    if not present:
        return default
    if not v.require(abs(duration.nanos) < 1_000_000_000, field_name, "nanos must be within one second"):
        return default
    value = timedelta(seconds=duration.seconds, microseconds=duration.nanos // 1000)
    if not v.require(value > timedelta(0), field_name, "must be positive"):
        return default
    if not v.require(value >= minimum, field_name, f"must be at least {_human(minimum)}"):
        return default
    if not v.require(value <= maximum, field_name, f"must be at most {_human(maximum)}"):
        return default
    return value


def _human(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit if seconds // size != 1 else unit[:-1]}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def limit_of(v: Validator, value: int, field_name: str = "limit") -> int:
    """``0`` means :data:`DEFAULT_LIMIT`; negative is refused; above :data:`MAX_LIMIT` is refused."""
    v.require(value >= 0, field_name, "must not be negative")
    v.require(value <= MAX_LIMIT, field_name, f"must be at most {MAX_LIMIT}")
    return DEFAULT_LIMIT if value <= 0 or value > MAX_LIMIT else value


def mention_id_of(v: Validator, value: str, field_name: str) -> str:
    """A mention id ``"<network>:<external_id>"``."""
    if v.non_empty(value, field_name):
        v.max_length(value, ID_LEN, field_name)
        v.require(":" in value.strip(), field_name, "must be a mention id '<network>:<external_id>'")
    return value.strip()


def timestamp_of(v: Validator, ts: Timestamp, present: bool, field_name: str) -> datetime | None:
    """A Timestamp field as an aware UTC datetime, ``None`` when unset."""
    if not present:
        return None
    try:
        return ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        v.add(field_name, "is not a valid time")
        return None


def encode_cursor(at: datetime, key: str) -> str:
    """The opaque page token for the keyset position ``(at, key)``."""
    return page_token.encode(f"{utc(at).isoformat()}|{key}")


def decode_cursor(token: str, field_name: str = "page_token") -> tuple[datetime, str] | None:
    """``(at, key)`` of a page token from :func:`encode_cursor`; ``None`` for the first page."""
    position = page_token.decode(token, field_name)
    if not position:
        return None
    at, sep, key = position.partition("|")
    try:
        when: datetime | None = utc(datetime.fromisoformat(at))
    except ValueError:
        when = None
    if not sep or when is None or not key:
        raise ValidationError.single(field_name, "invalid page token")
    return when, key


def set_timestamp(ts: Timestamp, value: datetime | None) -> None:
    """Fill ``ts`` from an (aware or naive-UTC) datetime; leaves it unset for ``None``."""
    if value is not None:
        ts.FromDatetime(utc(value))


def cursor_of(v: Validator, token: str, field_name: str = "page_token") -> tuple[datetime, str] | None:
    """:func:`decode_cursor`, recording a bad token as a violation of ``field_name`` (then ``None``)."""
    try:
        return decode_cursor(token, field_name)
    except ValidationError as error:
        for violation in error.violations:
            v.add(violation.field, violation.description)
        return None
