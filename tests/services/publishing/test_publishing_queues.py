"""Posting queues: the slot arithmetic across DST changes, the queue table and claiming free slots."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import grpc.aio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from publishing_helpers import TestNetwork, plugin_manager
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc as apb_grpc
from resonanz_publishing.access import AccessControl
from resonanz_publishing.account_servicer import AccountServicer
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.convert import now_utc
from resonanz_publishing.credentials import CredentialCipher
from resonanz_publishing.models import Base, PostRow, TargetRow
from resonanz_publishing.queues import QueueStore, claim_next_free_slot, upcoming_slots
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import NotFoundError, ValidationError
from resonanz_sdk.grpc import GrpcServer, call_metadata, field_violations
from sqlalchemy.ext.asyncio import AsyncEngine

#: The database tests need PostgreSQL; the slot arithmetic tests run anywhere.
pytestmark = pytest.mark.integration


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- slot arithmetic ---------------------------------------------------------------------------------


def test_slots_keep_local_wall_clock_time_across_dst() -> None:
    # Monday 09:00 in Berlin: 08:00 UTC in winter, 07:00 UTC in summer.
    got = upcoming_slots("Europe/Berlin", [(1, time(9, 0))], at(2025, 3, 20), 3)
    assert got == [at(2025, 3, 24, 8), at(2025, 3, 31, 7), at(2025, 4, 7, 7)]


def test_results_are_strictly_after_and_in_order() -> None:
    slots = [(3, time(17, 45)), (1, time(9, 0)), (1, time(8, 59))]
    got = upcoming_slots("America/New_York", slots, at(2025, 1, 6, 14), 4)  # exactly Monday 09:00 EST
    assert got == [
        at(2025, 1, 8, 22, 45),
        at(2025, 1, 13, 13, 59),
        at(2025, 1, 13, 14),
        at(2025, 1, 15, 22, 45),
    ]
    assert upcoming_slots("America/New_York", [], at(2025, 1, 1), 5) == []
    assert upcoming_slots("America/New_York", slots, at(2025, 1, 1), 0) == []


def test_berlin_spring_forward_moves_slots_in_the_gap_to_0300_without_duplicates() -> None:
    # 2025-03-30: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    slots = [(7, time(2, 0)), (7, time(2, 30)), (7, time(3, 0)), (7, time(3, 30))]
    got = upcoming_slots("Europe/Berlin", slots, at(2025, 3, 29), 3)
    assert got == [at(2025, 3, 30, 1), at(2025, 3, 30, 1, 30), at(2025, 4, 6, 0)]
    assert [g.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for g in got] == [
        "03:00",
        "03:30",
        "02:00",
    ]


def test_berlin_fall_back_uses_the_first_occurrence() -> None:
    # 2025-10-26: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30 and 01:30 UTC.
    got = upcoming_slots("Europe/Berlin", [(7, time(2, 30))], at(2025, 10, 25), 2)
    assert got == [at(2025, 10, 26, 0, 30), at(2025, 11, 2, 1, 30)]
    # After the first occurrence the slot is next week's, never the second occurrence.
    assert upcoming_slots("Europe/Berlin", [(7, time(2, 30))], at(2025, 10, 26, 0, 30), 1) == [
        at(2025, 11, 2, 1, 30)
    ]


def test_new_york_spring_forward_and_fall_back() -> None:
    # 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert upcoming_slots("America/New_York", [(7, time(2, 30))], at(2025, 3, 8), 2) == [
        at(2025, 3, 9, 7),
        at(2025, 3, 16, 6, 30),
    ]
    # 2025-11-02: 02:00 EDT falls back to 01:00 EST; 01:30 first happens at 05:30 UTC.
    assert upcoming_slots("America/New_York", [(7, time(1, 30))], at(2025, 11, 1), 2) == [
        at(2025, 11, 2, 5, 30),
        at(2025, 11, 9, 6, 30),
    ]


def expected_instant(day: date, slot_time: time, zone: ZoneInfo) -> datetime:
    """An independent oracle: the earliest UTC instant showing that wall-clock time, or (in a gap)
    the first UTC minute whose wall-clock time is past it."""
    naive = datetime.combine(day, slot_time)
    a = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo = min(a, b)
    if lo.astimezone(zone).replace(tzinfo=None) == naive:
        return lo
    u = lo.replace(second=0, microsecond=0)
    while u.astimezone(zone).replace(tzinfo=None) < naive:
        u += timedelta(minutes=1)
    return u


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata", "UTC"]


@settings(max_examples=150, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    slots=st.lists(
        st.tuples(st.integers(1, 7), st.builds(time, st.integers(0, 23), st.integers(0, 59))),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    after=st.datetimes(
        min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
    count=st.integers(1, 25),
)
def test_property_upcoming_slots_match_an_independent_oracle(
    zone_name: str, slots: list[tuple[int, time]], after: datetime, count: int
) -> None:
    zone = ZoneInfo(zone_name)
    got = upcoming_slots(zone_name, slots, after, count)
    assert len(got) == count
    assert all(g > after for g in got)
    assert all(a < b for a, b in itertools.pairwise(got))
    # Every result is a configured weekday/time (or its gap-shifted instant), and none is skipped.
    expected: set[datetime] = set()
    day = after.astimezone(zone).date() - timedelta(days=2)
    while day <= got[-1].astimezone(zone).date():
        for weekday, slot_time in slots:
            if day.isoweekday() == weekday:
                instant = expected_instant(day, slot_time, zone)
                if after < instant <= got[-1]:
                    expected.add(instant)
        day += timedelta(days=1)
    assert got == sorted(expected)


# -- the queue table and claiming ------------------------------------------------------------------------


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def accounts(engine: AsyncEngine) -> AccountStore:
    store = AccountStore(engine, CredentialCipher([CredentialCipher.generate_key()]))
    await store.connect("acme", "testnet", "@acme", "Acme", {"token": "t"}, "alice")
    await store.connect("acme", "testnet", "@other", "", {"token": "t"}, "alice")
    return store


async def add_target(
    engine: AsyncEngine,
    scheduled: datetime,
    *,
    handle: str = "@acme",
    status: int = TargetStatus.TARGET_STATUS_PENDING,
) -> None:
    async with session_factory(engine).begin() as session:
        session.add(new_post(scheduled, handle, status))


def new_post(
    scheduled: datetime, handle: str = "@acme", status: int = TargetStatus.TARGET_STATUS_PENDING
) -> PostRow:
    now = now_utc()
    post = PostRow(
        id=uuid.uuid4().hex,
        tenant="acme",
        text="hi",
        media=[],
        variants=[],
        campaign_id="",
        labels=[],
        status=PostStatus.POST_STATUS_SCHEDULED,
        scheduled_at=scheduled,
        created_at=now,
        updated_at=now,
        schedule_mode="queue",
    )
    post.targets = [
        TargetRow(
            tenant="acme",
            position=0,
            network="testnet",
            account=handle,
            status=status,
            updated_at=now,
            scheduled_at=scheduled,
            due_at=scheduled,
        )
    ]
    return post


async def test_set_queue_validates_and_names_fields(engine: AsyncEngine, accounts: AccountStore) -> None:
    queues = QueueStore(engine)
    with pytest.raises(ValidationError) as caught:
        await queues.set_queue(
            "acme",
            "testnet",
            "@acme",
            "Mars/Olympus",
            [(1, "09:00"), (0, "09:00"), (2, "24:00"), (1, "09:00"), (8, "9:5")],
            "alice",
        )
    assert {v.field for v in caught.value.violations} == {
        "time_zone",
        "slots[1].weekday",
        "slots[2].time",
        "slots[3]",
        "slots[4].weekday",
        "slots[4].time",
    }
    with pytest.raises(ValidationError) as caught:
        await queues.set_queue(
            "acme", "testnet", "@acme", "UTC", [(1 + i % 7, f"{i // 7:02d}:00") for i in range(101)], "a"
        )
    assert [v.field for v in caught.value.violations] == ["slots"]
    with pytest.raises(NotFoundError):
        await queues.set_queue("other-tenant", "testnet", "@acme", "UTC", [(1, "09:00")], "alice")
    assert await queues.get_queue("acme", "testnet", "@acme") is None


async def test_set_get_and_clear_a_queue(engine: AsyncEngine, accounts: AccountStore) -> None:
    queues = QueueStore(engine)
    row = await queues.set_queue(
        "acme", "testnet", "@acme", "Europe/Berlin", [(3, "12:00"), (1, "09:30")], "alice"
    )
    assert row is not None
    stored = await queues.get_queue("acme", "testnet", "@acme")
    assert stored is not None
    assert stored.time_zone == "Europe/Berlin"
    assert stored.slots == [{"weekday": 1, "time": "09:30"}, {"weekday": 3, "time": "12:00"}]
    assert await queues.get_queue("globex", "testnet", "@acme") is None
    assert await queues.set_queue("acme", "testnet", "@acme", "", [], "alice") is None
    assert await queues.get_queue("acme", "testnet", "@acme") is None


async def test_claim_skips_taken_slots_but_not_cancelled_or_other_accounts(
    engine: AsyncEngine, accounts: AccountStore
) -> None:
    queues = QueueStore(engine)
    after = at(2030, 1, 1)  # a Tuesday
    async with session_factory(engine).begin() as session:
        assert await claim_next_free_slot(session, "acme", "testnet", "@acme", after) is None  # no queue
    await queues.set_queue("acme", "testnet", "@acme", "Europe/Berlin", [(2, "09:00"), (4, "09:00")], "alice")
    first, second, third = upcoming_slots("Europe/Berlin", [(2, time(9)), (4, time(9))], after, 3)
    await add_target(engine, first)
    await add_target(engine, second, status=TargetStatus.TARGET_STATUS_CANCELLED)
    await add_target(engine, third, handle="@other")
    async with session_factory(engine).begin() as session:
        assert await claim_next_free_slot(session, "acme", "testnet", "@acme", after) == second
        assert await claim_next_free_slot(session, "globex", "testnet", "@acme", after) is None
    await add_target(engine, second)
    async with session_factory(engine).begin() as session:
        assert await claim_next_free_slot(session, "acme", "testnet", "@acme", after) == third
    assert await queues.taken_slots("acme", "testnet", "@acme", after) == {first, second}


async def test_concurrent_claims_never_return_the_same_slot(
    engine: AsyncEngine, accounts: AccountStore
) -> None:
    queues = QueueStore(engine)
    slots = [(1, "09:00"), (3, "09:00"), (5, "17:30")]
    await queues.set_queue("acme", "testnet", "@acme", "America/New_York", slots, "alice")
    after = now_utc()
    sessions = session_factory(engine)

    async def create() -> datetime:
        async with sessions.begin() as session:
            slot = await claim_next_free_slot(session, "acme", "testnet", "@acme", after)
            assert slot is not None
            await asyncio.sleep(0.02)  # widen the race window: others must wait for this commit
            session.add(new_post(slot))
            return slot

    got = await asyncio.gather(*(create() for _ in range(8)))
    assert len(set(got)) == 8
    expected = upcoming_slots("America/New_York", [(1, time(9)), (3, time(9)), (5, time(17, 30))], after, 8)
    assert sorted(got) == expected


# -- over gRPC ----------------------------------------------------------------------------------------


@dataclass
class Api:
    stub: apb_grpc.AccountServiceAsyncStub
    engine: AsyncEngine


@pytest.fixture
async def api(engine: AsyncEngine, accounts: AccountStore) -> AsyncIterator[Api]:
    servicer = AccountServicer(
        accounts, QueueStore(engine), plugin_manager(TestNetwork()), AccessControl(engine)
    )
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[apb.DESCRIPTOR.services_by_name["AccountService"].full_name],
        register=lambda s: apb_grpc.add_AccountServiceServicer_to_server(servicer, s),
        name="queues-test",
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(apb_grpc.AccountServiceStub(channel), engine)
    finally:
        await server.stop(0)


async def test_posting_queue_over_grpc_shows_upcoming_free_slots(api: Api) -> None:
    md = call_metadata("acme", "alice")
    account = apb.AccountRef(network="testnet", handle="@acme")
    request = apb.SetPostingQueueRequest(
        account=account,
        time_zone="Europe/Berlin",
        slots=[apb.WeeklySlot(weekday=w, time="10:15") for w in range(1, 8)],
    )
    queue = (await api.stub.SetPostingQueue(request, metadata=md)).queue
    assert queue.time_zone == "Europe/Berlin"
    assert len(queue.slots) == 7
    shown = [ts.ToDatetime(tzinfo=UTC) for ts in queue.upcoming_free_slots]
    assert len(shown) == 10
    assert shown == sorted(shown)
    assert all(s > now_utc() - timedelta(seconds=5) for s in shown)

    await add_target(api.engine, shown[0])
    again = (await api.stub.GetPostingQueue(apb.GetPostingQueueRequest(account=account), metadata=md)).queue
    assert [ts.ToDatetime(tzinfo=UTC) for ts in again.upcoming_free_slots][:9] == shown[1:]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.stub.GetPostingQueue(
            apb.GetPostingQueueRequest(account=account), metadata=call_metadata("globex")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    cleared = (await api.stub.SetPostingQueue(apb.SetPostingQueueRequest(account=account), metadata=md)).queue
    assert list(cleared.slots) == []
    assert list(cleared.upcoming_free_slots) == []


async def test_set_posting_queue_validation_over_grpc(api: Api) -> None:
    request = apb.SetPostingQueueRequest(
        account=apb.AccountRef(network="nonet", handle="@acme"),
        time_zone="Nowhere/City",
        slots=[apb.WeeklySlot(weekday=1, time="09:00"), apb.WeeklySlot(weekday=9, time="9am")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.stub.SetPostingQueue(request, metadata=call_metadata("acme"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == {
        "account.network",
        "time_zone",
        "slots[1].weekday",
        "slots[1].time",
    }
    missing = apb.SetPostingQueueRequest(
        account=apb.AccountRef(network="testnet", handle="@nobody"),
        time_zone="UTC",
        slots=[apb.WeeklySlot(weekday=1, time="09:00")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.stub.SetPostingQueue(missing, metadata=call_metadata("acme"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
