"""Stored media: the rows in ``publishing_media`` and their bytes in a :class:`MediaStore`.

An upload is checked before, while and after the bytes stream in: the declared info first (MIME type,
size, lengths), then while streaming the count against the declared size and ``max_bytes`` and the
first bytes against the MIME type's magic number, then the final count. Only a complete, matching
upload gets a row; anything refused is deleted from the store again, so a failed upload leaves neither
a row nor a file.

Posts refer to stored media as ``MediaItem(id=...)`` / ``uri="media://<id>"``; :meth:`MediaCatalog.lookup`
fills in what was really stored and :meth:`MediaCatalog.network_uri` turns the ``media://`` URI into
one a network plugin can fetch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Iterable

from resonanz.common.v1.content_pb2 import MediaItem, MediaType
from resonanz.publishing.v1 import media_service_pb2 as mpb
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import FailedPreconditionError, NotFoundError, ValidationError
from resonanz_sdk.grpc import Validator
from sqlalchemy import String, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.audit import record
from resonanz_publishing.convert import now_utc, to_timestamp
from resonanz_publishing.media_store import MediaStore
from resonanz_publishing.models import MediaRow, PostRow
from resonanz_publishing.status import FINAL_POST_STATUSES

logger = logging.getLogger(__name__)

MEDIA_URI_PREFIX = "media://"
MAX_FILE_NAME_LENGTH = 255
MAX_ALT_TEXT_LENGTH = 1500
MAX_MEDIA_ID_LENGTH = 64

#: Accepted MIME types and the media type each becomes.
MEDIA_TYPES: dict[str, int] = {
    "image/jpeg": MediaType.MEDIA_TYPE_IMAGE,
    "image/png": MediaType.MEDIA_TYPE_IMAGE,
    "image/webp": MediaType.MEDIA_TYPE_IMAGE,
    "image/gif": MediaType.MEDIA_TYPE_GIF,
    "video/mp4": MediaType.MEDIA_TYPE_VIDEO,
    "video/quicktime": MediaType.MEDIA_TYPE_VIDEO,
    "video/webm": MediaType.MEDIA_TYPE_VIDEO,
}
#: Bytes needed to recognise every format below.
_SNIFF_BYTES = 12


def content_matches(mime_type: str, head: bytes) -> bool:  # noqa: PLR0911 - one return per format
    """Whether the first bytes of a file are the magic number of ``mime_type``."""
    if mime_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if mime_type == "image/png":
        return head.startswith(b"\x89PNG")
    if mime_type == "image/gif":
        return head.startswith(b"GIF8")
    if mime_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if mime_type in ("video/mp4", "video/quicktime"):
        return head[4:8] == b"ftyp"
    if mime_type == "video/webm":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    return False


def media_uri(media_id: str) -> str:
    return f"{MEDIA_URI_PREFIX}{media_id}"


def media_id_of(uri: str) -> str | None:
    """The id in a ``media://<id>`` URI; ``None`` for any other URI."""
    if uri.startswith(MEDIA_URI_PREFIX):
        return uri[len(MEDIA_URI_PREFIX) :]
    return None


def validate_upload_info(info: mpb.UploadInfo, max_bytes: int, field: str = "info") -> int:
    """Check the declared upload; returns its ``MediaType``. Raises ValidationError naming ``info.*``."""
    v = Validator()
    media_type = MEDIA_TYPES.get(info.mime_type, MediaType.MEDIA_TYPE_UNSPECIFIED)
    v.require(
        media_type != MediaType.MEDIA_TYPE_UNSPECIFIED,
        f"{field}.mime_type",
        f"unsupported MIME type {info.mime_type!r}: use one of {', '.join(MEDIA_TYPES)}",
    )
    v.require(info.size_bytes > 0, f"{field}.size_bytes", "must be positive")
    v.require(
        info.size_bytes <= max_bytes,
        f"{field}.size_bytes",
        f"{info.size_bytes} bytes is more than the {max_bytes} bytes allowed",
    )
    v.max_length(info.file_name, MAX_FILE_NAME_LENGTH, f"{field}.file_name")
    v.max_length(info.alt_text, MAX_ALT_TEXT_LENGTH, f"{field}.alt_text")
    v.require(info.width >= 0, f"{field}.width", "must not be negative")
    v.require(info.height >= 0, f"{field}.height", "must not be negative")
    v.require(
        math.isfinite(info.duration_seconds) and info.duration_seconds >= 0,
        f"{field}.duration_seconds",
        "must be a finite number of seconds, not negative",
    )
    v.check()
    return media_type


class _CheckedStream:
    """Passes the upload's chunks on while hashing, counting and checking them.

    Raises ValidationError from inside the iteration (so the store discards what it wrote) when the
    bytes exceed the declared size or ``max_bytes``, or when the first bytes do not match the MIME type.
    The first bytes are held back until enough are there to recognise the format.
    """

    def __init__(self, chunks: AsyncIterator[bytes], info: mpb.UploadInfo, max_bytes: int) -> None:
        self._chunks = chunks
        self._info = info
        self._limit = min(info.size_bytes, max_bytes)
        self._max_bytes = max_bytes
        self.sha256 = hashlib.sha256()
        self.count = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head = b""
        sniffed = False
        async for chunk in self._chunks:
            if not chunk:
                continue
            self.count += len(chunk)
            if self.count > self._limit:
                raise self._size_error()
            self.sha256.update(chunk)
            if sniffed:
                yield chunk
                continue
            head += chunk
            if len(head) >= _SNIFF_BYTES:
                self._sniff(head)
                sniffed = True
                yield head
        if not sniffed and head:
            self._sniff(head)
            yield head

    def _sniff(self, head: bytes) -> None:
        if not content_matches(self._info.mime_type, head):
            raise ValidationError.single(
                "info.mime_type", f"the content is not {self._info.mime_type} (its first bytes do not match)"
            )

    def _size_error(self) -> ValidationError:
        if self.count > self._max_bytes:
            return ValidationError.single(
                "info.size_bytes", f"the upload is larger than the {self._max_bytes} bytes allowed"
            )
        return ValidationError.single(
            "info.size_bytes",
            f"declared {self._info.size_bytes} bytes, received at least {self.count}",
        )


class MediaCatalog:
    """Upload, get, delete and look up a tenant's stored media. Every query filters by tenant."""

    def __init__(self, engine: AsyncEngine, store: MediaStore, max_bytes: int) -> None:
        self._sessions = session_factory(engine)
        self._store = store
        self._max_bytes = max_bytes

    @property
    def store(self) -> MediaStore:
        return self._store

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    async def upload(
        self, tenant: str, info: mpb.UploadInfo, chunks: AsyncIterator[bytes], actor: str
    ) -> MediaRow:
        """Store the bytes and a row for them; ValidationError (nothing kept) when anything is off."""
        media_type = validate_upload_info(info, self._max_bytes)
        media_id = uuid.uuid4().hex
        key = f"{tenant}/{media_id}"
        checked = _CheckedStream(chunks, info, self._max_bytes)
        written = await self._store.put(key, checked.__aiter__())
        try:
            if written != info.size_bytes:
                raise ValidationError.single(
                    "info.size_bytes", f"declared {info.size_bytes} bytes, received {written}"
                )
            row = MediaRow(
                id=media_id,
                tenant=tenant,
                type=media_type,
                mime_type=info.mime_type,
                size_bytes=written,
                sha256=checked.sha256.hexdigest(),
                file_name=info.file_name,
                alt_text=info.alt_text,
                width=info.width,
                height=info.height,
                duration_seconds=info.duration_seconds,
                storage_key=key,
                created_at=now_utc(),
            )
            async with self._sessions.begin() as session:
                session.add(row)
                record(
                    session,
                    tenant=tenant,
                    action="media.uploaded",
                    actor=actor,
                    detail=f"media {media_id}: {info.mime_type}, {written} bytes"
                    + (f", {info.file_name!r}" if info.file_name else ""),
                )
        except BaseException:
            await self._discard(key)
            raise
        return row

    async def _discard(self, key: str) -> None:
        try:
            await self._store.delete(key)
        except Exception:
            logger.exception("could not delete the bytes of a refused upload %s", key)

    async def find(self, tenant: str, media_id: str) -> MediaRow | None:
        async with self._sessions() as session:
            row: MediaRow | None = (
                await session.execute(
                    select(MediaRow).where(MediaRow.tenant == tenant, MediaRow.id == media_id)
                )
            ).scalar_one_or_none()
            return row

    async def get(self, tenant: str, media_id: str) -> MediaRow:
        row = await self.find(tenant, media_id)
        if row is None:
            raise NotFoundError(f"media {media_id!r} not found")
        return row

    async def delete(self, tenant: str, media_id: str, actor: str) -> None:
        """Remove the row (with an audit event), then the bytes. NotFoundError when there is no row;
        FailedPreconditionError while a post that is not final yet (a draft, in review, scheduled or
        publishing) still uses the media, naming the post — deleting it would make that post fail.

        The row goes first: if removing the bytes fails afterwards, an unreferenced object is left
        (logged), never a row whose bytes are gone.
        """
        async with self._sessions.begin() as session:
            row: MediaRow | None = (
                await session.execute(
                    select(MediaRow)
                    .where(MediaRow.tenant == tenant, MediaRow.id == media_id)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"media {media_id!r} not found")
            user = await _open_post_using(session, tenant, media_uri(media_id))
            if user is not None:
                raise FailedPreconditionError(
                    f"media {media_id!r} is used by post {user!r}, which is not published yet: "
                    "remove it from the post or cancel the post first"
                )
            key = row.storage_key
            result = await session.execute(
                delete(MediaRow).where(MediaRow.tenant == tenant, MediaRow.id == media_id)
            )
            if result.rowcount == 0:  # deleted by a concurrent call in the meantime
                raise NotFoundError(f"media {media_id!r} not found")
            record(session, tenant=tenant, action="media.deleted", actor=actor, detail=f"media {media_id}")
        await self._discard(key)

    async def lookup(
        self, tenant: str, ids: Iterable[str], *, session: AsyncSession | None = None
    ) -> dict[str, MediaItem]:
        """The tenant's stored media among ``ids`` as ``MediaItem``s by id; unknown ids are left out.

        Reads in ``session`` when given (saves a connection checkout for callers that hold one).
        """
        wanted = {i for i in ids if i}
        if not wanted:
            return {}
        stmt = select(MediaRow).where(MediaRow.tenant == tenant, MediaRow.id.in_(wanted))
        if session is not None:
            return {row.id: media_item_of(row) for row in (await session.execute(stmt)).scalars()}
        async with self._sessions() as own:
            return {row.id: media_item_of(row) for row in (await own.execute(stmt)).scalars()}

    async def network_uri(self, tenant: str, item: MediaItem) -> str:
        """Where a network plugin fetches ``item``: the store's URI for ``media://<id>``, else ``item.uri``.

        NotFoundError when the stored media (row or bytes) is gone.
        """
        media_id = media_id_of(item.uri)
        if media_id is None:
            return item.uri
        row = await self.get(tenant, media_id)
        if not await self._store.exists(row.storage_key):
            raise NotFoundError(f"the bytes of media {media_id!r} are gone from the media store")
        return await self._store.network_uri(row.storage_key)


def media_item_of(row: MediaRow) -> MediaItem:
    return MediaItem(
        id=row.id,
        type=row.type,  # type: ignore[arg-type]
        uri=media_uri(row.id),
        mime_type=row.mime_type,
        size_bytes=row.size_bytes,
        alt_text=row.alt_text,
        width=row.width,
        height=row.height,
        duration_seconds=row.duration_seconds,
    )


def stored_media_to_proto(row: MediaRow) -> mpb.StoredMedia:
    return mpb.StoredMedia(
        item=media_item_of(row),
        sha256=row.sha256,
        file_name=row.file_name,
        created_at=to_timestamp(row.created_at),
    )


async def _open_post_using(session: AsyncSession, tenant: str, uri: str) -> str | None:
    """The id of a post of ``tenant`` that is not final and refers to ``uri`` (in its media or a
    variant's), or ``None``. Posts store media as protobuf JSON, so the URI is searched in that text."""
    stmt = (
        select(PostRow.id)
        .where(
            PostRow.tenant == tenant,
            PostRow.status.not_in(FINAL_POST_STATUSES),
            or_(
                cast(PostRow.media, String).contains(uri, autoescape=True),
                cast(PostRow.variants, String).contains(uri, autoescape=True),
            ),
        )
        .limit(1)
    )
    post_id: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return post_id
