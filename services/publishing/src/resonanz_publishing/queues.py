"""Posting queues: an account's recurring weekly slots in its own time zone, and the next free one.

A slot is an ISO weekday (1 = Monday) and a local ``HH:MM``. Slot times are local wall-clock times, so
a 09:00 slot stays at 09:00 across daylight-saving changes. On a spring-forward day a slot inside the
gap (e.g. 02:30 in Europe/Berlin) moves to the first valid minute after the gap (03:00); on a fall-back
day an ambiguous time means its first occurrence. A slot is *free* for an account while no live target
(any status but CANCELLED or FAILED) of that account is scheduled at exactly that instant.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import Validator
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.accounts import describe
from resonanz_publishing.audit import record
from resonanz_publishing.convert import now_utc, utc
from resonanz_publishing.models import AccountRow, PostingQueueRow, TargetRow

MAX_SLOTS = 100
#: How far ahead :func:`claim_next_free_slot` looks for a free slot.
SEARCH_HORIZON = timedelta(days=366)
#: Free slots shown by :func:`queue_to_proto`.
SHOWN_FREE_SLOTS = 10

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: UTC = local - offset, and no offset (even a historical local mean time) reaches a day: a bound on how
#: early in UTC a local day can start.
_MAX_UTC_OFFSET = timedelta(days=1)
#: Longest gap searched minute by minute on a spring-forward day (real gaps are at most a day).
_MAX_GAP_MINUTES = 2 * 24 * 60
_TAKEN_STATUSES_EXCLUDED = (TargetStatus.TARGET_STATUS_CANCELLED, TargetStatus.TARGET_STATUS_FAILED)

Slot = tuple[int, time]


# -- the pure slot arithmetic -----------------------------------------------------------------------


def resolve_local(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall-clock time ``naive`` in ``zone``.

    A time that does not exist (spring-forward gap) becomes the first valid minute after the gap; an
    ambiguous one (fall-back) its first occurrence.
    """
    candidate = naive
    for _ in range(_MAX_GAP_MINUTES + 1):
        aware = candidate.replace(tzinfo=zone, fold=0)
        instant = aware.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == candidate:
            return instant
        candidate += timedelta(minutes=1)
    raise ValueError(f"no valid local time within two days after {naive.isoformat()} in {zone.key}")


def iter_slots(time_zone: str, slots: Sequence[Slot], after: datetime) -> Iterator[datetime]:
    """Every slot instant (UTC) strictly after ``after``, in order, without duplicates; endless."""
    if not slots:
        return
    zone = ZoneInfo(time_zone)
    after = utc(after)
    by_weekday: dict[int, list[time]] = {}
    for weekday, at in slots:
        by_weekday.setdefault(weekday, []).append(at.replace(second=0, microsecond=0, tzinfo=None))
    day: date = after.astimezone(zone).date() - timedelta(days=1)
    pending: list[datetime] = []
    last: datetime | None = None
    while True:
        for at in by_weekday.get(day.isoweekday(), ()):
            instant = resolve_local(datetime.combine(day, at), zone)
            if instant > after:
                heapq.heappush(pending, instant)
        day += timedelta(days=1)
        # Nothing from ``day`` on can come earlier than this, so everything before it is final.
        settled = datetime.combine(day, time()).replace(tzinfo=UTC) - _MAX_UTC_OFFSET
        while pending and pending[0] < settled:
            instant = heapq.heappop(pending)
            if instant != last:
                last = instant
                yield instant


def upcoming_slots(time_zone: str, slots: Sequence[Slot], after: datetime, count: int) -> list[datetime]:
    """The first ``count`` slot instants (UTC) strictly after ``after``, in order, no duplicates."""
    out: list[datetime] = []
    if count <= 0:
        return out
    for instant in iter_slots(time_zone, slots, after):
        out.append(instant)
        if len(out) >= count:
            break
    return out


def first_free(
    time_zone: str, slots: Sequence[Slot], after: datetime, taken: Collection[datetime], *, horizon: timedelta
) -> Iterator[datetime]:
    """Slot instants after ``after`` and within ``horizon`` of it that are not in ``taken`` (UTC)."""
    limit = utc(after) + horizon
    for instant in iter_slots(time_zone, slots, after):
        if instant > limit:
            return
        if instant not in taken:
            yield instant


# -- stored slots ------------------------------------------------------------------------------------


def parse_time(value: str) -> time | None:
    match = _HHMM.match(value)
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)))


def stored_slots(row: PostingQueueRow | None) -> list[Slot]:
    """The slots of a queue row as (weekday, time) pairs (rows hold only validated values)."""
    if row is None:
        return []
    out: list[Slot] = []
    for item in row.slots:
        at = parse_time(str(item["time"]))
        if at is not None:
            out.append((int(item["weekday"]), at))
    return out


def known_zone(name: str) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_queue(time_zone: str, slots: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """The slots as stored (sorted ``{"weekday", "time"}`` objects); ValidationError naming the field."""
    v = Validator()
    if slots or time_zone:
        v.require(known_zone(time_zone), "time_zone", "not a known IANA time zone, e.g. 'Europe/Berlin'")
    v.require(len(slots) <= MAX_SLOTS, "slots", f"at most {MAX_SLOTS} slots")
    seen: set[tuple[int, str]] = set()
    for i, (weekday, text) in enumerate(slots):
        ok_day = v.require(1 <= weekday <= 7, f"slots[{i}].weekday", "ISO weekday: 1 (Monday) to 7 (Sunday)")
        ok_time = v.require(parse_time(text) is not None, f"slots[{i}].time", "HH:MM on the 24-hour clock")
        if ok_day and ok_time:
            v.require((weekday, text) not in seen, f"slots[{i}]", "duplicate slot")
            seen.add((weekday, text))
    v.check()
    return [{"weekday": w, "time": t} for w, t in sorted(seen)]


# -- the table ---------------------------------------------------------------------------------------


class QueueStore:
    """``publishing_posting_queues``: one queue per account, scoped by tenant through the account."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def set_queue(  # noqa: PLR0917 - the positional signature of the brief, as AccountStore.connect
        self,
        tenant: str,
        network: str,
        handle: str,
        time_zone: str,
        slots: Sequence[tuple[int, str]],
        actor: str,
    ) -> PostingQueueRow | None:
        """Replace the account's slots ((weekday, "HH:MM") pairs); empty ``slots`` deletes the queue.

        Validates first (ValidationError), then NotFoundError when the account does not exist.
        Returns the stored row, ``None`` after clearing.
        """
        stored = validate_queue(time_zone, slots)
        async with self._sessions.begin() as session:
            account_id = await _account_id(session, tenant, network, handle)
            if account_id is None:
                raise NotFoundError(f"{describe(network, handle)} not found")
            row: PostingQueueRow | None = await session.get(PostingQueueRow, account_id, with_for_update=True)
            if not stored:
                if row is not None:
                    await session.execute(
                        delete(PostingQueueRow).where(PostingQueueRow.account_id == account_id)
                    )
                detail = f"{describe(network, handle)}: posting queue cleared"
                result: PostingQueueRow | None = None
            else:
                if row is None:
                    row = PostingQueueRow(account_id=account_id, tenant=tenant)
                    session.add(row)
                row.time_zone = time_zone
                row.slots = stored
                row.updated_at = now_utc()
                detail = f"{describe(network, handle)}: {len(stored)} weekly slot(s) in {time_zone}"
                result = row
            record(session, tenant=tenant, action="queue.updated", actor=actor, detail=detail)
        return result

    async def get_queue(self, tenant: str, network: str, handle: str) -> PostingQueueRow | None:
        stmt = (
            select(PostingQueueRow)
            .join(AccountRow, AccountRow.id == PostingQueueRow.account_id)
            .where(AccountRow.tenant == tenant, AccountRow.network == network, AccountRow.handle == handle)
        )
        async with self._sessions() as session:
            row: PostingQueueRow | None = (await session.execute(stmt)).scalar_one_or_none()
            return row

    async def taken_slots(self, tenant: str, network: str, handle: str, after: datetime) -> set[datetime]:
        """Instants after ``after`` (within the search horizon) that live targets of the account hold."""
        async with self._sessions() as session:
            return await _taken(session, tenant, network, handle, after)


async def claim_next_free_slot(
    session: AsyncSession, tenant: str, network: str, handle: str, after: datetime
) -> datetime | None:
    """The account's next free slot after ``after`` (UTC), or ``None`` without a queue or free slot.

    Call it inside the transaction that inserts the target at the returned time. It first touches
    the queue row, which takes the row's lock on PostgreSQL and the database write lock on SQLite, so
    concurrent callers for the same account run one after the other and never get the same slot.
    """
    await session.execute(
        update(PostingQueueRow)
        .where(
            PostingQueueRow.tenant == tenant,
            PostingQueueRow.account_id
            == select(AccountRow.id)
            .where(AccountRow.tenant == tenant, AccountRow.network == network, AccountRow.handle == handle)
            .scalar_subquery(),
        )
        .values(updated_at=now_utc()),
        execution_options={"synchronize_session": False},
    )
    row: PostingQueueRow | None = (
        await session.execute(
            select(PostingQueueRow)
            .join(AccountRow, AccountRow.id == PostingQueueRow.account_id)
            .where(AccountRow.tenant == tenant, AccountRow.network == network, AccountRow.handle == handle)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    slots = stored_slots(row)
    if row is None or not slots:
        return None
    taken = await _taken(session, tenant, network, handle, after)
    return next(first_free(row.time_zone, slots, after, taken, horizon=SEARCH_HORIZON), None)


async def _account_id(session: AsyncSession, tenant: str, network: str, handle: str) -> str | None:
    stmt = select(AccountRow.id).where(
        AccountRow.tenant == tenant, AccountRow.network == network, AccountRow.handle == handle
    )
    account_id: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return account_id


async def _taken(
    session: AsyncSession, tenant: str, network: str, handle: str, after: datetime
) -> set[datetime]:
    after = utc(after)
    stmt = select(TargetRow.scheduled_at).where(
        TargetRow.tenant == tenant,
        TargetRow.network == network,
        TargetRow.account == handle,
        TargetRow.status.not_in(_TAKEN_STATUSES_EXCLUDED),
        TargetRow.deleted_at.is_(None),
        TargetRow.scheduled_at > after,
        TargetRow.scheduled_at <= after + SEARCH_HORIZON,
    )
    return {utc(at) for at in (await session.execute(stmt)).scalars() if at is not None}


def queue_to_proto(
    account_row: AccountRow,
    queue_row: PostingQueueRow | None,
    now: datetime,
    taken: Collection[datetime] = frozenset(),
) -> apb.PostingQueue:
    """The queue for the API, with up to :data:`SHOWN_FREE_SLOTS` upcoming slots not in ``taken``.

    ``taken``: the instants already held by the account's targets (``QueueStore.taken_slots``).
    """
    queue = apb.PostingQueue(account=apb.AccountRef(network=account_row.network, handle=account_row.handle))
    if queue_row is None:
        return queue
    queue.time_zone = queue_row.time_zone
    queue.slots.extend(
        apb.WeeklySlot(weekday=int(s["weekday"]), time=str(s["time"])) for s in queue_row.slots
    )
    slots = stored_slots(queue_row)
    if slots:
        free = first_free(queue_row.time_zone, slots, now, {utc(t) for t in taken}, horizon=SEARCH_HORIZON)
        for _, instant in zip(range(SHOWN_FREE_SLOTS), free, strict=False):
            ts = Timestamp()
            ts.FromDatetime(instant)
            queue.upcoming_free_slots.append(ts)
    return queue
