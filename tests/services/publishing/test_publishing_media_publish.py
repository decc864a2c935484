"""Stored media from upload to the network: CreatePost checks the stored size and type against the
manifest, and the worker hands the plugin a URI it can read the uploaded bytes from.

Real gRPC (MediaService and PublishingService of one running app), real broker, SQLite and PostgreSQL,
the local-disk media store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import grpc
import grpc.aio
import pytest
from publishing_helpers import Running, is_final, md, wait_for_post
from resonanz.common.v1.content_pb2 import MediaItem, PostStatus
from resonanz.publishing.v1 import media_service_pb2 as mpb
from resonanz.publishing.v1 import media_service_pb2_grpc as mpb_grpc
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz_publishing.convert import idempotency_key
from resonanz_sdk.grpc import field_violations

pytestmark = pytest.mark.integration

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


async def upload(running: Running, data: bytes, mime: str = "image/png") -> mpb.StoredMedia:
    async def parts() -> AsyncIterator[mpb.UploadMediaRequest]:
        yield mpb.UploadMediaRequest(
            info=mpb.UploadInfo(mime_type=mime, file_name="bild.png", size_bytes=len(data), alt_text="Logo")
        )
        for start in range(0, len(data), 256 * 1024):
            yield mpb.UploadMediaRequest(chunk=data[start : start + 256 * 1024])

    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.app.grpc_port}") as channel:
        stub = mpb_grpc.MediaServiceStub(channel)
        return (await stub.UploadMedia(parts(), metadata=md())).media


async def test_uploaded_image_reaches_the_network_as_a_readable_uri(running: Running) -> None:
    data = PNG_HEADER + bytes(range(256)) * 40
    stored = await upload(running, data)
    request = pb.CreatePostRequest(
        text="Unser neues Logo",
        media=[MediaItem(id=stored.item.id)],
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
    )
    created = (await running.stub.CreatePost(request, metadata=md())).post
    assert created.media[0].size_bytes == len(data)
    assert created.media[0].uri == f"media://{stored.item.id}"

    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    (media,) = running.networks["testnet"].media[idempotency_key(created.id, "testnet", "@acme")]
    assert media.uri.startswith("file://")
    assert await asyncio.to_thread(Path(unquote(urlparse(media.uri).path)).read_bytes) == data
    assert (media.size_bytes, media.mime_type, media.alt_text) == (len(data), "image/png", "Logo")


async def test_stored_size_is_checked_against_the_manifest_not_the_callers_claim(running: Running) -> None:
    big = PNG_HEADER + b"\0" * 1_100_000  # testnet accepts images up to 1,000,000 bytes
    stored = await upload(running, big)
    request = pb.CreatePostRequest(
        text="Zu groß",
        media=[MediaItem(id=stored.item.id, size_bytes=10)],
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(request, metadata=md())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = {v.field: v.description for v in field_violations(info.value)}
    assert "media[0].size_bytes" in violations
    assert "testnet" in violations["media[0].size_bytes"]

    unknown = pb.CreatePostRequest(
        text="Gibt es nicht",
        media=[MediaItem(id="0" * 32)],
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(unknown, metadata=md())
    assert "media[0].id" in {v.field for v in field_violations(info.value)}


async def test_media_a_pending_post_uses_cannot_be_deleted_until_the_post_is_final(running: Running) -> None:
    stored = await upload(running, PNG_HEADER + b"\1" * 500)
    request = pb.CreatePostRequest(
        text="Entwurf mit Bild",
        media=[MediaItem(id=stored.item.id)],
        targets=[pb.TargetSpec(network="testnet", account="@acme")],
        draft=True,
    )
    post = (await running.stub.CreatePost(request, metadata=md())).post
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.app.grpc_port}") as channel:
        media = mpb_grpc.MediaServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await media.DeleteMedia(mpb.DeleteMediaRequest(media_id=stored.item.id), metadata=md())
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert post.id in (info.value.details() or "")
        await media.GetMedia(mpb.GetMediaRequest(media_id=stored.item.id), metadata=md())  # still there

        await running.stub.CancelPost(pb.CancelPostRequest(post_id=post.id), metadata=md())
        await media.DeleteMedia(mpb.DeleteMediaRequest(media_id=stored.item.id), metadata=md())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await media.GetMedia(mpb.GetMediaRequest(media_id=stored.item.id), metadata=md())
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
