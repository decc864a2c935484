"""Scheduling through the real API: posts into an account's posting queue take its next free slots,
wall-clock times in a zone, and ListPosts' schedule window. Real gRPC, broker, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from publishing_helpers import Running, md
from resonanz.common.v1.content_pb2 import PostStatus, ScheduleMode
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc as apb_grpc
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz_publishing.queues import upcoming_slots
from resonanz_sdk.grpc import field_violations

pytestmark = pytest.mark.integration

BERLIN = "Europe/Berlin"


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


async def test_queued_posts_take_the_next_free_slots_of_each_account(running: Running) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.app.grpc_port}") as channel:
        accounts = apb_grpc.AccountServiceStub(channel)
        await accounts.SetPostingQueue(
            apb.SetPostingQueueRequest(
                account=apb.AccountRef(network="testnet", handle="@acme"),
                time_zone=BERLIN,
                slots=[apb.WeeklySlot(weekday=1, time="09:00"), apb.WeeklySlot(weekday=4, time="17:30")],
            ),
            metadata=md(),
        )
    expected = upcoming_slots(BERLIN, [(1, time(9, 0)), (4, time(17, 30))], datetime.now(UTC), 3)

    def queued(text: str) -> pb.CreatePostRequest:
        return pb.CreatePostRequest(
            text=text, targets=[pb.TargetSpec(network="testnet", account="@acme")], next_free_slot=True
        )

    first = (await running.stub.CreatePost(queued("Eins"), metadata=md())).post
    second = (await running.stub.CreatePost(queued("Zwei"), metadata=md())).post
    times = [p.targets[0].scheduled_at.ToDatetime(UTC) for p in (first, second)]
    assert times == expected[:2]
    assert all(p.status == PostStatus.POST_STATUS_SCHEDULED for p in (first, second))
    assert first.schedule_mode == ScheduleMode.SCHEDULE_MODE_NEXT_FREE_SLOT
    local = times[0].astimezone(ZoneInfo(BERLIN))
    assert (local.isoweekday(), local.strftime("%H:%M")) in {(1, "09:00"), (4, "17:30")}

    # A cancelled post frees its slot for the next one.
    await running.stub.CancelPost(pb.CancelPostRequest(post_id=first.id), metadata=md())
    third = (await running.stub.CreatePost(queued("Drei"), metadata=md())).post
    assert third.targets[0].scheduled_at.ToDatetime(UTC) == expected[0]

    # An account without a queue is refused, naming the target.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(
            pb.CreatePostRequest(
                text="Vier", targets=[pb.TargetSpec(network="othernet", account="@acme")], next_free_slot=True
            ),
            metadata=md(),
        )
    assert info.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)
    assert "targets[0].account" in info.value.details()

    # The schedule window filter of ListPosts.
    window = pb.ListPostsRequest(
        scheduled_from=ts(expected[1] - timedelta(minutes=1)),
        scheduled_to=ts(expected[1] + timedelta(minutes=1)),
    )
    listed = await running.stub.ListPosts(window, metadata=md())
    assert [p.id for p in listed.posts] == [second.id]


async def test_local_time_is_converted_in_its_zone_and_a_dst_gap_is_refused(running: Running) -> None:
    year = datetime.now(UTC).year + 1
    request = pb.CreatePostRequest(
        text="Frühlingsgruß",
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
        local_time=pb.LocalDateTime(date_time=f"{year}-07-01T09:30", time_zone=BERLIN),
    )
    post = (await running.stub.CreatePost(request, metadata=md())).post
    assert post.scheduled_at.ToDatetime(UTC) == datetime(year, 7, 1, 7, 30, tzinfo=UTC)  # CEST = UTC+2
    assert (post.schedule_mode, post.time_zone) == (ScheduleMode.SCHEDULE_MODE_AT, BERLIN)

    # The last Sunday of March, 02:30 does not exist in Berlin.
    last_sunday = max(day for day in (datetime(year, 3, d) for d in range(25, 32)) if day.isoweekday() == 7)
    gap = pb.CreatePostRequest(
        text="Gibt es nicht",
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
        local_time=pb.LocalDateTime(date_time=f"{last_sunday:%Y-%m-%d}T02:30", time_zone=BERLIN),
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(gap, metadata=md())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "local_time.date_time" in {v.field for v in field_violations(info.value)}
