"""The media stores: the local-disk store on a temp directory, the S3 store against moto's server.

No S3-compatible server (AWS, MinIO) can run here: PyPI ships MinIO only as client libraries, not as a
server binary, and nothing outside this machine is reachable. moto's ``ThreadedMotoServer`` stands in
for it: a real HTTP server on 127.0.0.1 speaking the S3 REST protocol, which boto3 talks to exactly as
it would to MinIO (path-style addressing, SigV4, multipart uploads, presigned URLs fetched over HTTP).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from resonanz_publishing.media_store import (
    LocalDiskMediaStore,
    S3MediaStore,
    check_key,
    media_store_from_settings,
)
from resonanz_sdk.errors import ConfigurationError, NotFoundError
from resonanz_sdk.settings import Settings

MIB = 1024 * 1024
ACCESS_KEY = "testing-key"
SECRET_KEY = "testing-secret"  # a fake credential for the local stand-in server


async def chunks_of(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in it])


class BrokenUploadError(Exception):
    pass


async def breaks_after(data: bytes, size: int) -> AsyncIterator[bytes]:
    """Yields ``data`` in chunks of ``size``, then fails like a client that went away."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
    raise BrokenUploadError("client went away")


def fetch(uri: str) -> bytes:
    """What a network plugin does with a media URI (``file://`` or presigned ``http://``)."""
    with urllib.request.urlopen(uri, timeout=10) as response:
        body: bytes = response.read()
        return body


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- local disk -------------------------------------------------------------------------------------


async def test_local_round_trip(tmp_path: Path) -> None:
    store = LocalDiskMediaStore(tmp_path / "media")
    data = os.urandom(3 * MIB + 5)
    assert not await store.exists("t1/abc")
    assert await store.put("t1/abc", chunks_of(data, 65536)) == len(data)
    assert await store.exists("t1/abc")
    read = await read_all(store.open("t1/abc"))
    assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()
    # The network URI is a file:// URI of the file that holds the bytes.
    uri = await store.network_uri("t1/abc")
    assert uri.startswith("file:///")
    assert await asyncio.to_thread(fetch, uri) == data
    await store.delete("t1/abc")
    assert not await store.exists("t1/abc")
    await store.delete("t1/abc")  # absent: nothing happens
    with pytest.raises(NotFoundError):
        await read_all(store.open("t1/abc"))


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "t1/../../escape",
        "t1/..",
        "/etc/passwd",
        "t1//x",
        "t1/",
        ".hidden",
        "t1/.x.part",
        "t1\\..\\x",
        "t1/a b",
        "t1/\x00",
        "x" * 401,
    ],
)
async def test_local_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    store = LocalDiskMediaStore(tmp_path / "media")
    with pytest.raises(ValueError, match="key"):
        await store.put(key, chunks_of(b"data"))
    with pytest.raises(ValueError, match="key"):
        await read_all(store.open(key))
    with pytest.raises(ValueError, match="key"):
        await store.delete(key)
    with pytest.raises(ValueError, match="key"):
        await store.network_uri(key)
    assert files_under(tmp_path) == []


async def test_local_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "media"
    root.mkdir()
    (root / "t1").symlink_to(outside, target_is_directory=True)
    store = LocalDiskMediaStore(root)
    with pytest.raises(ValueError, match="leaves"):
        await store.put("t1/x", chunks_of(b"data"))
    assert list(outside.iterdir()) == []


def test_check_key_accepts_tenant_and_id() -> None:
    assert check_key("default/0123abcd") == "default/0123abcd"
    assert check_key("tenant-1/a_b.c") == "tenant-1/a_b.c"


async def test_local_put_is_atomic(tmp_path: Path) -> None:
    """Until the last chunk is written the key does not exist; a failed put leaves nothing behind and
    keeps an earlier object under the same key unchanged."""
    store = LocalDiskMediaStore(tmp_path / "media")
    first_written = asyncio.Event()
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"first half "
        first_written.set()
        await go_on.wait()
        yield b"second half"

    task = asyncio.create_task(store.put("t1/m", slow()))
    await first_written.wait()
    await asyncio.sleep(0.05)
    assert not await store.exists("t1/m")
    go_on.set()
    assert await task == len(b"first half second half")
    assert await read_all(store.open("t1/m")) == b"first half second half"

    with pytest.raises(BrokenUploadError):
        await store.put("t1/m", breaks_after(b"replacement bytes", 4))
    assert await read_all(store.open("t1/m")) == b"first half second half"
    with pytest.raises(BrokenUploadError):
        await store.put("t1/n", breaks_after(b"never stored", 4))
    assert not await store.exists("t1/n")
    assert files_under(tmp_path / "media") == [store.path_of("t1/m")]


async def test_local_put_cancelled_leaves_nothing(tmp_path: Path) -> None:
    store = LocalDiskMediaStore(tmp_path / "media")
    started = asyncio.Event()

    async def hangs() -> AsyncIterator[bytes]:
        yield b"some bytes"
        started.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(store.put("t1/c", hangs()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(tmp_path / "media") == []


# --- settings ---------------------------------------------------------------------------------------


def test_store_from_settings(tmp_path: Path) -> None:
    store = media_store_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalDiskMediaStore)
    assert store.root == (tmp_path / "media").resolve()
    store = media_store_from_settings(Settings(data_dir=tmp_path, media_dir=tmp_path / "elsewhere"))
    assert isinstance(store, LocalDiskMediaStore)
    assert store.root == (tmp_path / "elsewhere").resolve()
    with pytest.raises(ConfigurationError, match="RESONANZ_S3_BUCKET"):
        media_store_from_settings(Settings(media_store="s3"))
    with pytest.raises(ConfigurationError, match="RESONANZ_MEDIA_STORE"):
        media_store_from_settings(Settings(media_store="ftp"))
    s3 = media_store_from_settings(
        Settings(media_store="s3", s3_bucket="b", s3_endpoint_url="http://127.0.0.1:1", s3_prefix="m/")
    )
    assert isinstance(s3, S3MediaStore)
    assert s3.object_key("t/x") == "m/t/x"


# --- S3 (moto's server standing in for an S3-compatible store) ---------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = f"media-{abs(hash(request.node.nodeid)) % 10**10}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
    return name


def s3_store(endpoint: str, bucket: str, **kwargs: int) -> S3MediaStore:
    return S3MediaStore(
        bucket=bucket,
        prefix="media/",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        url_expiry=600,
        **kwargs,
    )


def object_keys(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    pending = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [o["Key"] for o in listed] + [f"pending:{u['Key']}" for u in pending]


async def test_s3_round_trip_and_presigned_url(s3_endpoint: str, s3_bucket: str) -> None:
    store = s3_store(s3_endpoint, s3_bucket)
    data = os.urandom(200_000)
    assert not await store.exists("t1/abc")
    assert await store.put("t1/abc", chunks_of(data, 30_000)) == len(data)
    assert object_keys(s3_endpoint, s3_bucket) == ["media/t1/abc"]
    assert await store.exists("t1/abc")
    assert await read_all(store.open("t1/abc")) == data

    url = await store.network_uri("t1/abc")
    assert url.startswith(f"{s3_endpoint}/{s3_bucket}/media/t1/abc?")
    assert "X-Amz-Expires=600" in url
    assert await asyncio.to_thread(fetch, url) == data  # a plugin fetches it like this

    await store.delete("t1/abc")
    assert not await store.exists("t1/abc")
    assert object_keys(s3_endpoint, s3_bucket) == []
    with pytest.raises(NotFoundError):
        await read_all(store.open("t1/abc"))


async def test_s3_multipart_upload(s3_endpoint: str, s3_bucket: str) -> None:
    store = s3_store(s3_endpoint, s3_bucket, part_bytes=5 * MIB)
    data = os.urandom(11 * MIB + 123)
    assert await store.put("t1/big", chunks_of(data, MIB)) == len(data)
    assert hashlib.sha256(await read_all(store.open("t1/big"))).digest() == hashlib.sha256(data).digest()
    assert object_keys(s3_endpoint, s3_bucket) == ["media/t1/big"]


async def test_s3_failed_upload_leaves_nothing(s3_endpoint: str, s3_bucket: str) -> None:
    store = s3_store(s3_endpoint, s3_bucket, part_bytes=5 * MIB)
    # Small: fails before the single PutObject.
    with pytest.raises(BrokenUploadError):
        await store.put("t1/small", breaks_after(b"x" * 1000, 100))
    # Big: fails after two parts went up; the multipart upload is aborted.
    with pytest.raises(BrokenUploadError):
        await store.put("t1/big", breaks_after(os.urandom(11 * MIB), MIB))
    assert object_keys(s3_endpoint, s3_bucket) == []


async def test_s3_refuses_unsafe_keys(s3_endpoint: str, s3_bucket: str) -> None:
    store = s3_store(s3_endpoint, s3_bucket)
    with pytest.raises(ValueError, match="key"):
        await store.put("../t1/x", chunks_of(b"data"))
    assert object_keys(s3_endpoint, s3_bucket) == []
