"""MediaService over a real gRPC server (the sdk's GrpcServer with its interceptors), on SQLite and
PostgreSQL, with the local-disk store on a temp directory; and the catalog calls CreatePost and the
worker use (``lookup``, ``network_uri``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.request
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest
from resonanz.common.v1.content_pb2 import MediaItem, MediaType
from resonanz.publishing.v1 import media_service_pb2 as mpb
from resonanz.publishing.v1 import media_service_pb2_grpc as mpb_grpc
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_publishing.access import AccessControl
from resonanz_publishing.convert import now_utc
from resonanz_publishing.media_catalog import MediaCatalog, content_matches
from resonanz_publishing.media_servicer import MediaServicer
from resonanz_publishing.media_store import LocalDiskMediaStore
from resonanz_publishing.models import AuditEventRow, Base, MediaRow, MemberRow
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import GrpcServer, call_metadata, field_violations
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

MIB = 1024 * 1024
MAX_BYTES = 3 * MIB
SERVICE = mpb.DESCRIPTOR.services_by_name["MediaService"].full_name

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(3000)


@dataclass
class Media:
    stub: mpb_grpc.MediaServiceAsyncStub
    catalog: MediaCatalog
    engine: AsyncEngine
    root: Path

    async def rows(self, tenant: str | None = None) -> int:
        stmt = select(func.count()).select_from(MediaRow)
        if tenant is not None:
            stmt = stmt.where(MediaRow.tenant == tenant)
        async with session_factory(self.engine)() as session:
            count: int = (await session.execute(stmt)).scalar_one()
            return count

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.exists() else []

    async def audit(self, tenant: str) -> list[tuple[str, str]]:
        stmt = select(AuditEventRow).where(AuditEventRow.tenant == tenant).order_by(AuditEventRow.id)
        async with session_factory(self.engine)() as session:
            return [(r.action, r.actor) for r in (await session.execute(stmt)).scalars()]


@pytest.fixture
async def media(database_url: str, tmp_path: Path) -> AsyncIterator[Media]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    root = tmp_path / "media"
    catalog = MediaCatalog(engine, LocalDiskMediaStore(root), MAX_BYTES)
    servicer = MediaServicer(catalog, AccessControl(engine))
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[SERVICE],
        register=lambda s: mpb_grpc.add_MediaServiceServicer_to_server(servicer, s),
        name="media-test",
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Media(mpb_grpc.MediaServiceStub(channel), catalog, engine, root)
    finally:
        await server.stop(grace=0)
        await engine.dispose()


def info(data: bytes, mime_type: str = "image/png", **kwargs: object) -> mpb.UploadInfo:
    fields: dict[str, object] = {"mime_type": mime_type, "size_bytes": len(data), **kwargs}
    return mpb.UploadInfo(**fields)  # type: ignore[arg-type]


def requests(first: mpb.UploadInfo | None, data: bytes, size: int = 1000) -> list[mpb.UploadMediaRequest]:
    out = [mpb.UploadMediaRequest(info=first)] if first is not None else []
    out.extend(mpb.UploadMediaRequest(chunk=data[i : i + size]) for i in range(0, len(data), size))
    return out


async def upload(
    media: Media, messages: Iterable[mpb.UploadMediaRequest], tenant: str = "t1", actor: str = "ann"
) -> mpb.StoredMedia:
    async def stream() -> AsyncIterator[mpb.UploadMediaRequest]:
        for m in messages:
            yield m

    response = await media.stub.UploadMedia(stream(), metadata=call_metadata(tenant, actor))
    return response.media


async def refused(
    media: Media, messages: Iterable[mpb.UploadMediaRequest], tenant: str = "t1"
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(media, messages, tenant)
    return caught.value


def fields(error: grpc.RpcError) -> list[str]:
    return [v.field for v in field_violations(error)]


async def test_upload_get_delete(media: Media) -> None:
    stored = await upload(
        media, requests(info(PNG, file_name="logo.png", alt_text="Our logo", width=64), PNG)
    )
    item = stored.item
    assert len(item.id) == 32
    assert item.type == MediaType.MEDIA_TYPE_IMAGE
    assert item.uri == f"media://{item.id}"
    assert (item.mime_type, item.size_bytes, item.alt_text, item.width) == (
        "image/png",
        len(PNG),
        "Our logo",
        64,
    )
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored.file_name == "logo.png"
    assert stored.created_at.seconds > 0

    got = await media.stub.GetMedia(mpb.GetMediaRequest(media_id=item.id), metadata=call_metadata("t1"))
    assert got.media == stored
    assert media.files() == [media.root / "t1" / item.id]
    assert media.files()[0].read_bytes() == PNG

    await media.stub.DeleteMedia(
        mpb.DeleteMediaRequest(media_id=item.id), metadata=call_metadata("t1", "bob")
    )
    assert media.files() == []
    assert await media.rows() == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await media.stub.GetMedia(mpb.GetMediaRequest(media_id=item.id), metadata=call_metadata("t1"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await media.stub.DeleteMedia(mpb.DeleteMediaRequest(media_id=item.id), metadata=call_metadata("t1"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await media.audit("t1") == [("media.uploaded", "ann"), ("media.deleted", "bob")]


@pytest.mark.parametrize(
    ("mime_type", "head", "media_type"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xdb", MediaType.MEDIA_TYPE_IMAGE),
        ("image/gif", b"GIF89a", MediaType.MEDIA_TYPE_GIF),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", MediaType.MEDIA_TYPE_IMAGE),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42", MediaType.MEDIA_TYPE_VIDEO),
        ("video/quicktime", b"\x00\x00\x00\x14ftypqt  ", MediaType.MEDIA_TYPE_VIDEO),
        ("video/webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", MediaType.MEDIA_TYPE_VIDEO),
    ],
)
async def test_every_accepted_format(media: Media, mime_type: str, head: bytes, media_type: int) -> None:
    data = head + os.urandom(5000)
    # One-byte first chunks: the magic number is recognised across chunks.
    messages = [mpb.UploadMediaRequest(info=info(data, mime_type, duration_seconds=1.5))]
    messages += [mpb.UploadMediaRequest(chunk=data[i : i + 1]) for i in range(12)]
    messages += requests(None, data[12:], 2048)
    stored = await upload(media, messages)
    assert stored.item.type == media_type
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert media.files()[0].read_bytes() == data


def test_magic_numbers() -> None:
    assert content_matches("image/png", PNG[:12])
    assert not content_matches("image/png", JPEG[:12])
    assert not content_matches("image/webp", b"RIFF\x10\x00\x00\x00AVI ")
    assert not content_matches("video/mp4", b"\x00\x00\x00\x18moov")
    assert not content_matches("image/png", b"")
    assert not content_matches("text/plain", b"hello world!")


async def assert_nothing_kept(media: Media) -> None:
    assert await media.rows() == 0
    assert media.files() == []
    assert await media.audit("t1") == []


async def test_size_mismatch_is_refused_and_nothing_kept(media: Media) -> None:
    too_few = await refused(
        media, requests(mpb.UploadInfo(mime_type="image/png", size_bytes=len(PNG) + 1), PNG)
    )
    assert too_few.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(too_few) == ["info.size_bytes"]
    assert "received" in (too_few.details() or "")
    too_many = await refused(
        media, requests(mpb.UploadInfo(mime_type="image/png", size_bytes=len(PNG) - 1), PNG)
    )
    assert fields(too_many) == ["info.size_bytes"]
    await assert_nothing_kept(media)


async def test_content_not_matching_the_mime_type_is_refused(media: Media) -> None:
    error = await refused(media, requests(info(JPEG, "image/png"), JPEG))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == ["info.mime_type"]
    text = b"just some text, not a video at all"
    assert fields(await refused(media, requests(info(text, "video/mp4"), text))) == ["info.mime_type"]
    tiny = b"\x89P"  # shorter than any magic number check needs, and wrong
    assert fields(await refused(media, requests(info(tiny, "image/gif"), tiny))) == ["info.mime_type"]
    await assert_nothing_kept(media)


@pytest.mark.parametrize(
    ("upload_info", "field"),
    [
        (mpb.UploadInfo(mime_type="image/svg+xml", size_bytes=10), "info.mime_type"),
        (mpb.UploadInfo(mime_type="", size_bytes=10), "info.mime_type"),
        (mpb.UploadInfo(mime_type="image/png", size_bytes=0), "info.size_bytes"),
        (mpb.UploadInfo(mime_type="image/png", size_bytes=MAX_BYTES + 1), "info.size_bytes"),
        (mpb.UploadInfo(mime_type="image/png", size_bytes=10, file_name="f" * 256), "info.file_name"),
        (mpb.UploadInfo(mime_type="image/png", size_bytes=10, alt_text="a" * 1501), "info.alt_text"),
        (mpb.UploadInfo(mime_type="image/png", size_bytes=10, width=-1), "info.width"),
        (
            mpb.UploadInfo(mime_type="video/mp4", size_bytes=10, duration_seconds=float("nan")),
            "info.duration_seconds",
        ),
    ],
)
async def test_invalid_info_is_refused(media: Media, upload_info: mpb.UploadInfo, field: str) -> None:
    error = await refused(media, requests(upload_info, PNG[:10]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == [field]
    await assert_nothing_kept(media)


async def test_message_order_and_chunk_size(media: Media) -> None:
    no_info = await refused(media, requests(None, PNG))
    assert (no_info.code(), fields(no_info)) == (grpc.StatusCode.INVALID_ARGUMENT, ["info"])
    assert fields(await refused(media, [])) == ["info"]
    twice = [mpb.UploadMediaRequest(info=info(PNG)), *requests(info(PNG), PNG)]
    assert fields(await refused(media, twice)) == ["chunk"]
    later_info = [*requests(info(PNG), PNG[:2000]), mpb.UploadMediaRequest(info=info(PNG))]
    assert fields(await refused(media, later_info)) == ["chunk"]
    big = PNG + os.urandom(2 * MIB)
    oversized = [mpb.UploadMediaRequest(info=info(big)), mpb.UploadMediaRequest(chunk=big[: MIB + 1])]
    assert fields(await refused(media, oversized)) == ["chunk"]
    await assert_nothing_kept(media)
    # Exactly 1 MiB chunks are fine.
    stored = await upload(media, requests(info(big), big, MIB))
    assert stored.item.size_bytes == len(big)


async def test_upload_broken_off_by_the_client_leaves_nothing(media: Media) -> None:
    half_sent = asyncio.Event()

    async def stream() -> AsyncIterator[mpb.UploadMediaRequest]:
        yield mpb.UploadMediaRequest(info=info(PNG + b"\x00" * MIB))
        yield mpb.UploadMediaRequest(chunk=PNG)
        half_sent.set()
        await asyncio.Event().wait()  # the client hangs, then gives up

    call = media.stub.UploadMedia(stream(), metadata=call_metadata("t1"))
    await half_sent.wait()
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(100):  # the server notices the cancellation asynchronously
        if not media.files():
            break
        await asyncio.sleep(0.05)
    await assert_nothing_kept(media)


async def test_tenants_do_not_see_each_others_media(media: Media) -> None:
    stored = await upload(media, requests(info(PNG), PNG), tenant="t1")
    for call in (
        media.stub.GetMedia(mpb.GetMediaRequest(media_id=stored.item.id), metadata=call_metadata("t2")),
        media.stub.DeleteMedia(mpb.DeleteMediaRequest(media_id=stored.item.id), metadata=call_metadata("t2")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await media.rows("t1") == 1
    assert len(media.files()) == 1
    assert await media.catalog.lookup("t2", [stored.item.id]) == {}
    with pytest.raises(NotFoundError):
        await media.catalog.network_uri("t2", MediaItem(uri=stored.item.uri))
    assert (await media.catalog.get("t1", stored.item.id)).sha256 == stored.sha256


@pytest.mark.parametrize("media_id", ["", "  ", "x" * 65])
async def test_media_id_is_validated(media: Media, media_id: str) -> None:
    for call in (
        media.stub.GetMedia(mpb.GetMediaRequest(media_id=media_id), metadata=call_metadata("t1")),
        media.stub.DeleteMedia(mpb.DeleteMediaRequest(media_id=media_id), metadata=call_metadata("t1")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fields(caught.value) == ["media_id"]


async def test_missing_tenant_is_unauthenticated(media: Media) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await media.stub.GetMedia(mpb.GetMediaRequest(media_id="abc"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_upload_and_delete_need_the_edit_permission(media: Media) -> None:
    async with session_factory(media.engine).begin() as session:
        session.add(MemberRow(tenant="t1", user="ed", role=Role.ROLE_EDITOR, added_at=now_utc()))
    for actor in ("", "stranger"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload(media, requests(info(PNG), PNG), actor=actor)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await assert_nothing_kept(media)
    stored = await upload(media, requests(info(PNG), PNG), actor="ed")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await media.stub.DeleteMedia(
            mpb.DeleteMediaRequest(media_id=stored.item.id), metadata=call_metadata("t1", "stranger")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Reading needs no role.
    got = await media.stub.GetMedia(
        mpb.GetMediaRequest(media_id=stored.item.id), metadata=call_metadata("t1")
    )
    assert got.media.item.id == stored.item.id
    await media.stub.DeleteMedia(
        mpb.DeleteMediaRequest(media_id=stored.item.id), metadata=call_metadata("t1", "ed")
    )
    assert await media.rows() == 0


async def test_lookup_and_network_uri(media: Media) -> None:
    """What CreatePost (lookup) and the worker (network_uri) ask the catalog."""
    png = await upload(media, requests(info(PNG, alt_text="alt"), PNG))
    mp4_bytes = b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000)
    mp4 = await upload(
        media, requests(info(mp4_bytes, "video/mp4", duration_seconds=2.5, width=640), mp4_bytes)
    )

    found = await media.catalog.lookup("t1", [png.item.id, mp4.item.id, "unknown", png.item.id])
    assert found == {png.item.id: png.item, mp4.item.id: mp4.item}
    assert found[mp4.item.id].duration_seconds == 2.5
    assert found[png.item.id].alt_text == "alt"
    assert await media.catalog.lookup("t1", []) == {}

    uri = await media.catalog.network_uri("t1", MediaItem(id=png.item.id, uri=png.item.uri))
    assert uri.startswith("file:///")
    assert await asyncio.to_thread(fetch, uri) == PNG
    external = MediaItem(uri="https://cdn.example.com/cat.jpg")
    assert await media.catalog.network_uri("t1", external) == "https://cdn.example.com/cat.jpg"

    # Bytes gone behind the catalog's back, or the media deleted: the worker is told it is not found.
    media.catalog.store.path_of(f"t1/{mp4.item.id}").unlink()  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        await media.catalog.network_uri("t1", MediaItem(uri=mp4.item.uri))
    await media.catalog.delete("t1", png.item.id, "ann")
    with pytest.raises(NotFoundError):
        await media.catalog.network_uri("t1", MediaItem(uri=png.item.uri))


def fetch(uri: str) -> bytes:
    with urllib.request.urlopen(uri, timeout=10) as response:
        body: bytes = response.read()
        return body


async def test_bytes_are_deleted_when_the_row_cannot_be_written(media: Media) -> None:
    """The database failing after the bytes were stored leaves no file behind."""

    async def chunks() -> AsyncIterator[bytes]:
        yield PNG

    async with media.engine.begin() as conn:
        await conn.run_sync(MediaRow.__table__.drop)
    with pytest.raises(DBAPIError):
        await media.catalog.upload("t1", info(PNG), chunks(), "ann")
    assert media.files() == []
