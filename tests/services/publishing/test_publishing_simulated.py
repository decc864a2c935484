"""The publishing service with the real simulated network plugin, loaded by its entry point name.

The service never names the simulated network; this test only asks the PluginManager for the
"simulated" plugin, uses the plugin's own fault injection (through the object the manager returns) and
reads the simulated world to check that every target was posted exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc.aio
import pytest
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc as apb_grpc
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration

ACCOUNTS = ("@resonanz", "@resonanz_de", "@resonanz_at")


@pytest.fixture
async def service(
    kafka_bootstrap: str, database_url: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[pb_grpc.PublishingServiceAsyncStub, Any]]:
    settings = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        consumer_group_prefix=f"{topic_prefix}resonanz",
        plugins="simulated",
        publishing_port=0,
        metrics_port=0,
        dispatch_interval_seconds=0.1,
        watch_poll_interval_seconds=0.2,
        publish_backoff_base_seconds=0.02,
        publish_backoff_max_seconds=0.2,
    )
    plugins = PluginManager.from_setting(settings.plugins)
    plugins.load_entry_points()
    app = PublishingApp(settings, plugins)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            accounts = apb_grpc.AccountServiceStub(channel)
            for handle in ACCOUNTS:
                await accounts.ConnectAccount(
                    apb.ConnectAccountRequest(
                        account=apb.AccountRef(network="simulated", handle=handle),
                        credentials={"access_token": "simulated"},
                    ),
                    metadata=tenant_metadata("acme"),
                )
            yield pb_grpc.PublishingServiceStub(channel), cast("Any", plugins.network("simulated"))
    finally:
        await app.stop()
        await plugins.aclose()


async def test_simulated_targets_publish_once_each_despite_rate_limits(
    service: tuple[pb_grpc.PublishingServiceAsyncStub, Any],
) -> None:
    stub, simulated = service
    simulated.inject_fault("publish", "rate_limited", 2, 0.05)
    text = f"Hallo Welt! Unser neues Produkt ist da #launch {uuid.uuid4().hex[:8]}"
    request = pb.CreatePostRequest(
        text=text, targets=[pb.TargetSpec(network="simulated", account=a) for a in ACCOUNTS]
    )
    created = (await stub.CreatePost(request, metadata=tenant_metadata("acme"))).post

    stream = stub.WatchPost(pb.WatchPostRequest(post_id=created.id), metadata=tenant_metadata("acme"))
    statuses = await asyncio.wait_for(_statuses(stream), 20)
    assert statuses[-1] == PostStatus.POST_STATUS_PUBLISHED

    post = (await stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=tenant_metadata("acme"))).post
    assert all(t.status == TargetStatus.TARGET_STATUS_PUBLISHED for t in post.targets)
    # Two rate-limited calls were retried: three attempts in all beyond one per target.
    assert sum(t.attempts for t in post.targets) == len(ACCOUNTS) + 2
    on_network = [p for p in simulated.world.posts() if p.text == text]
    assert sorted(f"@{p.author.handle}" for p in on_network) == sorted(ACCOUNTS)
    assert {t.external_id for t in post.targets} == {p.external_id for p in on_network}


async def _statuses(stream: Any) -> list[int]:
    return [message.post.status async for message in stream]


async def _published(stub: pb_grpc.PublishingServiceAsyncStub, post_id: str) -> Any:
    stream = stub.WatchPost(pb.WatchPostRequest(post_id=post_id), metadata=tenant_metadata("acme"))
    statuses = await asyncio.wait_for(_statuses(stream), 20)
    assert statuses[-1] == PostStatus.POST_STATUS_PUBLISHED, statuses
    return (await stub.GetPost(pb.GetPostRequest(post_id=post_id), metadata=tenant_metadata("acme"))).post


async def test_reply_to_a_mention_then_delete_the_published_posts(
    service: tuple[pb_grpc.PublishingServiceAsyncStub, Any],
) -> None:
    stub, simulated = service
    text = f"Neu bei uns {uuid.uuid4().hex[:8]}"
    created = (
        await stub.CreatePost(
            pb.CreatePostRequest(
                text=text, targets=[pb.TargetSpec(network="simulated", account=ACCOUNTS[0])]
            ),
            metadata=tenant_metadata("acme"),
        )
    ).post
    original = (await _published(stub, created.id)).targets[0].external_id

    reply_request = pb.ReplyToMentionRequest(
        network="simulated", account=ACCOUNTS[1], in_reply_to=original, text="Danke!", idempotency_key="r-1"
    )
    reply = (await stub.ReplyToMention(reply_request, metadata=tenant_metadata("acme"))).post
    again = (await stub.ReplyToMention(reply_request, metadata=tenant_metadata("acme"))).post
    assert again.id == reply.id
    assert reply.in_reply_to == original
    reply_id = (await _published(stub, reply.id)).targets[0].external_id
    on_network = simulated.world.get(reply_id)
    assert on_network is not None
    assert on_network.in_reply_to == original

    deleted = (
        await stub.DeletePublishedPost(
            pb.DeletePublishedPostRequest(post_id=created.id), metadata=tenant_metadata("acme")
        )
    ).post
    assert deleted.targets[0].HasField("deleted_at")
    assert simulated.world.get(original).deleted
    # Deleting again changes nothing; replying to a deleted post is refused by the network.
    await stub.DeletePublishedPost(
        pb.DeletePublishedPostRequest(post_id=created.id), metadata=tenant_metadata("acme")
    )
    late = (
        await stub.ReplyToMention(
            pb.ReplyToMentionRequest(
                network="simulated", account=ACCOUNTS[1], in_reply_to=original, text="Hallo?"
            ),
            metadata=tenant_metadata("acme"),
        )
    ).post
    stream = stub.WatchPost(pb.WatchPostRequest(post_id=late.id), metadata=tenant_metadata("acme"))
    statuses = await asyncio.wait_for(_statuses(stream), 20)
    assert statuses[-1] == PostStatus.POST_STATUS_FAILED
    failed = (await stub.GetPost(pb.GetPostRequest(post_id=late.id), metadata=tenant_metadata("acme"))).post
    assert "does not exist" in failed.targets[0].error
