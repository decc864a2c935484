"""Where the bytes of uploaded media live: a local directory (the default) or an S3-compatible bucket.

A store knows nothing about tenants, rows or MIME types; it keeps opaque keys (``"<tenant>/<id>"``)
and their bytes. Writes are atomic: a reader sees either nothing or the whole object, and a failed
``put`` (the chunk iterator raised, the disk filled up, the upload broke off) leaves nothing behind.

``network_uri`` is what a network plugin fetches the bytes from: a ``file://`` URI for the local store
(the plugin runs in the same process or on the same volume), a presigned GET URL for S3.

boto3 is synchronous; every S3 call runs in a worker thread (``asyncio.to_thread``) so the event loop
never blocks on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from resonanz_sdk.errors import ConfigurationError, NotFoundError
from resonanz_sdk.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Bytes per chunk handed out by ``open``.
READ_CHUNK_BYTES = 1024 * 1024
#: Part size of S3 multipart uploads; smaller objects go up in one ``PutObject``. S3 wants >= 5 MiB.
S3_PART_BYTES = 8 * 1024 * 1024
_MIN_S3_PART_BYTES = 5 * 1024 * 1024
#: One key segment: letters, digits, '_', '-', '.', not starting with '.' (no '..', no hidden files).
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_MAX_KEY_LENGTH = 400


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe relative key (``"a/b"``), else raise ``ValueError``.

    Only plain segments of ``[A-Za-z0-9_.-]`` separated by single '/' are allowed, none starting with
    '.', so no key can be absolute, climb with '..', or name a temporary file of the local store.
    """
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise ValueError(f"media key must be 1-{_MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(part) for part in key.split("/")):
        raise ValueError(f"unsafe media key {key!r}")
    return key


class MediaStore(Protocol):
    """Bytes by key. Keys are checked with :func:`check_key` (``ValueError`` when unsafe)."""

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Write all of ``chunks`` under ``key`` atomically (replacing an object there); bytes written.

        When ``chunks`` raises, the exception propagates and nothing is stored.
        """
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under ``key`` in chunks; ``NotFoundError`` (on first iteration) when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def network_uri(self, key: str) -> str:
        """Where a network plugin can fetch the bytes (``file://`` path or presigned URL)."""
        ...


class LocalDiskMediaStore:
    """Objects as files under ``root`` (``root/<tenant>/<id>``), written to a temp file and renamed."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, key: str) -> Path:
        """The file of ``key``; ``ValueError`` for a key that is unsafe or would leave ``root``."""
        path = (self._root / check_key(key)).resolve()
        if not path.is_relative_to(self._root) or path == self._root:
            raise ValueError(f"media key {key!r} leaves the store's directory")
        return path

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        path = self.path_of(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        # The temp file lives beside the target so that the rename stays on one file system (atomic).
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, dir=path.parent, prefix=f".{path.name}.", suffix=".part"
        )
        tmp = Path(tmp_name)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    if chunk:
                        await asyncio.to_thread(out.write, chunk)
                        written += len(chunk)
                await asyncio.to_thread(_flush_and_sync, out)
            await asyncio.to_thread(os.replace, tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # synchronous: must also run while the task is being cancelled
            raise
        return written

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"media object {key!r} not found") from None
        try:
            while True:
                chunk = await asyncio.to_thread(handle.read, READ_CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def network_uri(self, key: str) -> str:
        return self.path_of(key).as_uri()


def _flush_and_sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


class S3MediaStore:
    """Objects in an S3-compatible bucket under ``prefix`` (AWS S3, MinIO, Ceph, R2, ...).

    Objects up to ``part_bytes`` go up in one ``PutObject``; larger ones as a multipart upload that is
    aborted when anything fails, so a broken upload never becomes visible.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        url_expiry: int = 3600,
        part_bytes: int = S3_PART_BYTES,
    ) -> None:
        if not bucket:
            raise ConfigurationError("the S3 media store needs a bucket: set RESONANZ_S3_BUCKET")
        if part_bytes < _MIN_S3_PART_BYTES:
            raise ValueError(f"S3 multipart parts must be at least {_MIN_S3_PART_BYTES} bytes")
        self._bucket = bucket
        self._prefix = prefix
        self._url_expiry = url_expiry
        self._part_bytes = part_bytes
        # Path-style addressing for a custom endpoint: MinIO and most self-hosted stores need it.
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
        )
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    def object_key(self, key: str) -> str:
        return f"{self._prefix}{check_key(key)}"

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        object_key = self.object_key(key)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        written = 0
        try:
            async for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= self._part_bytes:
                    if upload_id is None:
                        upload_id = await self._create_multipart(object_key)
                    part = bytes(buffer[: self._part_bytes])
                    del buffer[: self._part_bytes]
                    parts.append(await self._upload_part(object_key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                await asyncio.to_thread(
                    self._client.put_object, Bucket=self._bucket, Key=object_key, Body=bytes(buffer)
                )
            else:
                if buffer:
                    parts.append(
                        await self._upload_part(object_key, upload_id, len(parts) + 1, bytes(buffer))
                    )
                await asyncio.to_thread(
                    self._client.complete_multipart_upload,
                    Bucket=self._bucket,
                    Key=object_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        asyncio.to_thread(
                            self._client.abort_multipart_upload,
                            Bucket=self._bucket,
                            Key=object_key,
                            UploadId=upload_id,
                        )
                    )
            raise
        return written

    async def _create_multipart(self, object_key: str) -> str:
        response = await asyncio.to_thread(
            self._client.create_multipart_upload, Bucket=self._bucket, Key=object_key
        )
        return response["UploadId"]

    async def _upload_part(self, object_key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = await asyncio.to_thread(
            self._client.upload_part,
            Bucket=self._bucket,
            Key=object_key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    async def open(self, key: str) -> AsyncIterator[bytes]:
        object_key = self.object_key(key)
        try:
            response = await asyncio.to_thread(self._client.get_object, Bucket=self._bucket, Key=object_key)
        except self._client.exceptions.NoSuchKey:
            raise NotFoundError(f"media object {key!r} not found") from None
        body = response["Body"]
        try:
            while True:
                chunk = await asyncio.to_thread(body.read, READ_CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        # DeleteObject succeeds for absent keys too.
        await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=self.object_key(key))

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    async def network_uri(self, key: str) -> str:
        object_key = self.object_key(key)
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self._bucket, "Key": object_key},
            ExpiresIn=self._url_expiry,
        )
        return url


def media_store_from_settings(settings: Settings) -> MediaStore:
    """The store ``RESONANZ_MEDIA_STORE`` names: ``local`` (default) or ``s3``."""
    kind = settings.media_store.strip().lower()
    if kind == "local":
        return LocalDiskMediaStore(settings.media_dir or settings.data_dir / "media")
    if kind == "s3":
        if not settings.s3_bucket:
            raise ConfigurationError("RESONANZ_MEDIA_STORE=s3 needs RESONANZ_S3_BUCKET")
        return S3MediaStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id.get_secret_value(),
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            url_expiry=settings.s3_url_expiry_seconds,
        )
    raise ConfigurationError(f"unknown RESONANZ_MEDIA_STORE {settings.media_store!r}: use 'local' or 's3'")
