"""The publishing service end to end: real gRPC, real broker, real databases (SQLite and PostgreSQL).

The network here is ``TestNetwork`` (publishing_helpers), a small network registered through
the real PluginManager hook, not the simulated plugin: these tests need exact control over failures
(rate limits, permanent refusals, expired credentials) and an exact count, per idempotency key, of the
publish calls that created a post.
"""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest
from publishing_helpers import ResultsReader, Running, create_request, is_final, md, wait_for_post
from resonanz.common.v1.content_pb2 import NetworkVariant, PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import PublishRequested, PublishResult
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz.publishing.v1 import workspace_service_pb2_grpc as wpb_grpc
from resonanz_publishing.models import OutboxRow, PostRow
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import (
    PermanentNetworkError,
    RateLimitedError,
)
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope
from resonanz_sdk.grpc import field_violations
from sqlalchemy import func, select

pytestmark = pytest.mark.integration


async def count_posts(running: Running) -> int:
    async with session_factory(running.app.engine)() as session:
        return int((await session.execute(select(func.count()).select_from(PostRow))).scalar_one())


async def watch_all(running: Running, post_id: str, tenant: str = "acme") -> list[int]:
    """Every status WatchPost sends for ``post_id``, until the server ends the stream."""
    stream = running.stub.WatchPost(pb.WatchPostRequest(post_id=post_id), metadata=md(tenant))
    return [message.post.status async for message in stream]


async def test_three_targets_publish_once_each_and_watch_ends_published(
    running: Running, read_results: ResultsReader
) -> None:
    request = create_request(
        "Hallo Welt! Unser neues Produkt ist da #launch",
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    )
    request.variants.append(NetworkVariant(network="othernet", text="Kurz: neu! #launch"))
    created = (await running.stub.CreatePost(request, metadata=md())).post
    assert created.status == PostStatus.POST_STATUS_SCHEDULED
    assert [(t.network, t.account) for t in created.targets] == [
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    ]

    seen = await watch_all(running, created.id)
    assert seen[-1] == PostStatus.POST_STATUS_PUBLISHED
    assert len(seen) >= 2  # the post as it was, then at least its final state

    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    for target in post.targets:
        assert target.status == TargetStatus.TARGET_STATUS_PUBLISHED
        assert target.attempts == 1
        assert target.external_id
        assert target.url.startswith("https://")
        assert target.HasField("published_at")
    testnet, othernet = running.networks["testnet"], running.networks["othernet"]
    assert testnet.accepted == {f"{created.id}:testnet:@acme": 1, f"{created.id}:testnet:@acme_de": 1}
    assert othernet.accepted == {f"{created.id}:othernet:@acme": 1}
    # The variant went to its network, the default text elsewhere.
    assert othernet.texts[f"{created.id}:othernet:@acme"] == "Kurz: neu! #launch"
    assert testnet.texts[f"{created.id}:testnet:@acme"] == request.text

    results = await read_results(3)
    assert len(results) == 3
    payloads = [r.publish_result for r in results]
    assert {(p.network, p.account) for p in payloads} == {
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    }
    for envelope, payload in zip(results, payloads, strict=True):
        assert envelope.tenant == "acme"
        assert envelope.type == PublishResult.DESCRIPTOR.full_name
        assert payload.post_id == created.id
        assert payload.status == TargetStatus.TARGET_STATUS_PUBLISHED
        assert payload.attempts == 1


async def test_redelivered_request_publishes_once(running: Running) -> None:
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    await wait_for_post(running.stub, created.id, is_final)
    key = f"{created.id}:testnet:@acme"
    request = PublishRequested(
        post_id=created.id,
        network="testnet",
        account="@acme",
        text="Hallo Welt! #launch",
        idempotency_key=key,
    )
    envelope = new_envelope("acme", request)
    async with EventProducer(
        running.settings.kafka_bootstrap, prefix=running.settings.topic_prefix
    ) as producer:
        # The same event twice (a redelivery) and a new event for the same target (a re-send).
        await producer.publish(Topic.PUBLISH_REQUESTS, envelope, key="testnet:@acme")
        await producer.publish(Topic.PUBLISH_REQUESTS, envelope, key="testnet:@acme")
        await producer.publish(Topic.PUBLISH_REQUESTS, new_envelope("acme", request), key="testnet:@acme")
    # A later post on the same account (same key, same partition) is handled after the duplicates.
    later = (await running.stub.CreatePost(create_request("Noch einer"), metadata=md())).post
    await wait_for_post(running.stub, later.id, is_final)

    testnet = running.networks["testnet"]
    assert testnet.accepted[key] == 1
    assert testnet.calls.count(key) == 1
    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert post.targets[0].attempts == 1


async def test_rate_limited_then_published(running: Running) -> None:
    testnet = running.networks["testnet"]
    testnet.faults = [RateLimitedError("testnet", "slow down", retry_after=0.05) for _ in range(3)]
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert post.targets[0].attempts == 4
    key = f"{created.id}:testnet:@acme"
    assert testnet.calls.count(key) == 4
    assert testnet.accepted[key] == 1


async def test_gives_up_after_max_attempts_and_permanent_errors_fail_at_once(running: Running) -> None:
    testnet, othernet = running.networks["testnet"], running.networks["othernet"]
    testnet.faults = [RateLimitedError("testnet", "slow down") for _ in range(10)]
    othernet.faults = [PermanentNetworkError("othernet", "content refused")]
    created = (
        await running.stub.CreatePost(
            create_request("Hi", ("testnet", "@a"), ("othernet", "@b")), metadata=md()
        )
    ).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_FAILED
    by_network = {t.network: t for t in post.targets}
    assert by_network["testnet"].status == TargetStatus.TARGET_STATUS_FAILED
    assert by_network["testnet"].attempts == running.settings.publish_max_attempts
    assert "gave up after 4 attempts" in by_network["testnet"].error
    assert "slow down" in by_network["testnet"].error
    assert by_network["othernet"].status == TargetStatus.TARGET_STATUS_FAILED
    assert by_network["othernet"].attempts == 1
    assert by_network["othernet"].error == "content refused"

    # One target fails, one succeeds: PARTLY_PUBLISHED.
    testnet.faults = []
    othernet.faults = [PermanentNetworkError("othernet", "content refused")]
    created = (
        await running.stub.CreatePost(
            create_request("Hi", ("testnet", "@a"), ("othernet", "@b")), metadata=md()
        )
    ).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PARTLY_PUBLISHED


async def test_expired_credentials_are_refreshed_once(running: Running) -> None:
    testnet = running.networks["testnet"]
    testnet.valid_token = "fresh"
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert testnet.refreshed == 1
    assert post.targets[0].attempts == 2


async def test_validation_errors_name_the_field_and_write_nothing(running: Running) -> None:
    cases: list[tuple[pb.CreatePostRequest, str, str]] = [
        (pb.CreatePostRequest(text="Hallo"), "targets", "at least one"),
        (create_request("Hallo", ("testnet", "@a"), ("nowhere", "@b")), "targets[1].network", "nowhere"),
        (create_request("x" * 281), "text", "testnet"),
        (create_request("Hallo", ("testnet", "")), "targets[0].account", "empty"),
    ]
    too_long_variant = create_request("Hallo", ("testnet", "@a"), ("othernet", "@b"))
    too_long_variant.variants.append(NetworkVariant(network="othernet", text="🎉" * 11))  # 22 UTF-16 units
    cases.append((too_long_variant, "variants[0].text", "othernet"))
    for request, field_path, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.stub.CreatePost(request, metadata=md())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = field_violations(info.value)
        assert any(v.field == field_path and words in v.description for v in violations), violations
    assert await count_posts(running) == 0
    async with session_factory(running.app.engine)() as session:
        assert (await session.execute(select(func.count()).select_from(OutboxRow))).scalar_one() == 0

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(create_request())  # no tenant
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def replayed(call: grpc.aio.UnaryUnaryCall[pb.CreatePostRequest, pb.CreatePostResponse]) -> str:
    """The ``x-resonanz-replayed`` response metadata of a finished CreatePost call."""
    await call
    return dict(await call.trailing_metadata() or ()).get("x-resonanz-replayed", "")


async def test_create_post_is_idempotent_per_tenant(running: Running) -> None:
    call = running.stub.CreatePost(create_request(key="launch-1"), metadata=md())
    first = (await call).post
    assert await replayed(call) == "false"
    call = running.stub.CreatePost(create_request(key="launch-1"), metadata=md())
    again = (await call).post
    assert await replayed(call) == "true"
    assert again.id == first.id
    assert again.idempotency_key == "launch-1"
    calls = [running.stub.CreatePost(create_request(key="launch-2"), metadata=md()) for _ in range(5)]
    concurrent = await asyncio.gather(*calls)
    assert len({r.post.id for r in concurrent}) == 1
    assert sorted([await replayed(c) for c in calls]) == ["false"] + ["true"] * 4
    other_tenant = (await running.stub.CreatePost(create_request(key="launch-1"), metadata=md("globex"))).post
    assert other_tenant.id != first.id
    assert await count_posts(running) == 3
    await wait_for_post(running.stub, first.id, is_final)
    assert running.networks["testnet"].accepted[f"{first.id}:testnet:@acme"] == 1


async def test_tenants_cannot_see_each_others_posts(running: Running) -> None:
    created = (await running.stub.CreatePost(create_request(), metadata=md("acme"))).post
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md("globex"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await watch_all(running, created.id, "globex")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await running.stub.ListPosts(pb.ListPostsRequest(), metadata=md("globex"))
    assert list(listed.posts) == []
    mine = await running.stub.ListPosts(pb.ListPostsRequest(), metadata=md("acme"))
    assert [p.id for p in mine.posts] == [created.id]


async def test_list_posts_pages_newest_first_and_filters(running: Running) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.app.grpc_port}") as channel:
        workspace = wpb_grpc.WorkspaceServiceStub(channel)
        campaign = (
            await workspace.CreateCampaign(wpb.CreateCampaignRequest(name="Spring"), metadata=md())
        ).campaign
    spring_id = campaign.id
    ids = []
    for i in range(5):
        post = (
            await running.stub.CreatePost(
                create_request(f"Post {i}", campaign=spring_id if i % 2 == 0 else ""), metadata=md()
            )
        ).post
        ids.append(post.id)
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await running.stub.ListPosts(pb.ListPostsRequest(page_size=2, page_token=token), metadata=md())
        pages.append([p.id for p in page.posts])
        token = page.next_page_token
        if not token:
            break
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]

    spring = await running.stub.ListPosts(pb.ListPostsRequest(campaign_id=spring_id), metadata=md())
    assert [p.id for p in spring.posts] == [ids[4], ids[2], ids[0]]

    for post_id in ids:
        await wait_for_post(running.stub, post_id, is_final)
    published = await running.stub.ListPosts(
        pb.ListPostsRequest(status=PostStatus.POST_STATUS_PUBLISHED), metadata=md()
    )
    assert len(published.posts) == 5
    failed = await running.stub.ListPosts(
        pb.ListPostsRequest(status=PostStatus.POST_STATUS_FAILED), metadata=md()
    )
    assert list(failed.posts) == []

    for bad in (pb.ListPostsRequest(page_token="not-a-token"), pb.ListPostsRequest(page_size=-1)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.stub.ListPosts(bad, metadata=md())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(info.value)} & {"page_token", "page_size"}


async def test_scheduled_post_waits_until_due(running: Running) -> None:
    request = create_request()
    request.scheduled_at.GetCurrentTime()
    request.scheduled_at.seconds += 3600
    created = (await running.stub.CreatePost(request, metadata=md())).post
    await asyncio.sleep(0.5)  # several dispatcher ticks
    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_SCHEDULED
    assert post.targets[0].status == TargetStatus.TARGET_STATUS_PENDING
    assert running.networks["testnet"].calls == []
