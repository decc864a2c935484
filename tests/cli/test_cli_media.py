"""``resonanz media`` against the in-process media double over real gRPC: streamed uploads in chunks of
at most 1 MiB with the declared size, the MIME type from the extension, the progress bar for large
files, get and delete.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_doubles import Platform, RunCli
from resonanz.common.v1 import content_pb2

MIB = 1024 * 1024


async def test_upload_a_small_image(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    image = tmp_path / "launch.jpg"
    body = b"\xff\xd8" + bytes(range(256)) * 40
    image.write_bytes(body)
    result = await cli(
        "--as", "anna", "media", "upload", str(image), "--alt", "Das Produkt", "--width", "800"
    )
    assert result.exit_code == 0, result.output
    [info] = platform.media.infos
    assert (info.mime_type, info.file_name, info.alt_text, info.size_bytes, info.width) == (
        "image/jpeg",
        "launch.jpg",
        "Das Produkt",
        len(body),
        800,
    )
    [media_id] = platform.media.stored
    assert platform.media.data[media_id] == body
    assert platform.media.recorder.calls[0].actor == "anna"
    assert f"media {media_id}" in result.output
    assert hashlib.sha256(body).hexdigest() in result.output
    assert "uploading" not in result.output  # no progress bar for small files


async def test_a_large_video_streams_in_1_mib_chunks_with_a_progress_bar(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    video = tmp_path / "teaser.mp4"
    body = (b"0123456789abcdef" * (MIB // 16)) * 6 + b"tail"
    video.write_bytes(body)
    result = await cli("media", "upload", str(video), "--duration", "14.5")
    assert result.exit_code == 0, result.output
    assert platform.media.chunk_sizes == [MIB] * 6 + [4]
    [stored] = platform.media.stored.values()
    assert stored.item.type == content_pb2.MEDIA_TYPE_VIDEO
    assert stored.item.mime_type == "video/mp4"
    assert stored.item.duration_seconds == 14.5
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert "uploading teaser.mp4" in result.output


async def test_mime_from_option_and_unknown_extensions(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    blob = tmp_path / "clip.bin"
    blob.write_bytes(b"data")
    unknown = await cli("media", "upload", str(blob))
    assert unknown.exit_code == 1
    assert "--mime" in unknown.output
    assert platform.media.infos == []
    given = await cli("media", "upload", str(blob), "--mime", "image/gif")
    assert given.exit_code == 0, given.output
    assert platform.media.infos[0].mime_type == "image/gif"
    refused = await cli("media", "upload", str(blob), "--mime", "text/plain")
    assert refused.exit_code == 1
    assert "  - info.mime_type: 'text/plain' is not an image or video" in refused.output.splitlines()


@pytest.mark.parametrize("make", ["empty", "missing", "directory"])
async def test_upload_refuses_what_is_not_a_file(
    cli: RunCli, platform: Platform, tmp_path: Path, make: str
) -> None:
    path = tmp_path / "x.png"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "directory":
        path.mkdir()
    result = await cli("media", "upload", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert platform.media.infos == []


async def test_get_and_delete(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    assert (await cli("media", "upload", str(image))).exit_code == 0
    [media_id] = platform.media.stored
    got = await cli("media", "get", media_id)
    assert got.exit_code == 0
    assert "a.png" in got.output
    assert "image/png" in got.output
    other = await cli("--tenant", "globex", "media", "get", media_id)
    assert other.exit_code == 1
    assert "not_found" in other.output
    deleted = await cli("media", "delete", media_id)
    assert deleted.exit_code == 0
    assert f"deleted media {media_id}" in deleted.output
    assert platform.media.stored == {}
    again = await cli("media", "delete", media_id)
    assert again.exit_code == 1
    assert again.output.startswith(f"error: not_found: media '{media_id}' not found")
