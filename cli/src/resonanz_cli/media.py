"""``resonanz media``: upload images and videos to the media store, show and delete them (MediaService).

An upload is one client-streaming call: first the file's description (``info``), then its bytes in
chunks of at most 1 MiB, read lazily so a large video never sits in memory. Posts refer to the
uploaded media by the id this prints (``posts create --media-id``).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import resonanz.publishing.v1.media_service_pb2 as media_pb2
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from resonanz_cli import render, render_admin
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled, stderr
from resonanz_cli.output import JsonOpt, show

app = typer.Typer(help="Upload, show and delete media (images, videos).", no_args_is_help=True)

#: Bytes per upload message; the service accepts at most 1 MiB.
CHUNK_SIZE = 1024 * 1024
#: Files larger than this show a progress bar while uploading.
PROGRESS_THRESHOLD = 5 * 1024 * 1024
#: Extra seconds the upload may take per MiB on top of the usual call timeout (0.5 MiB/s at worst).
SECONDS_PER_MIB = 2.0

MediaIdArg = Annotated[str, typer.Argument(metavar="ID", help="The media's id.", show_default=False)]


def guess_mime(path: Path, given: str | None) -> str:
    """``--mime`` when given, else what the file's extension says (``.jpg`` -> ``image/jpeg``)."""
    if given:
        return given.strip()
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    if guessed is None or guessed == "application/octet-stream":
        raise typer.BadParameter(
            f"cannot tell the MIME type of {path.name!r} from its extension; pass it, e.g. --mime image/png",
            param_hint="--mime",
        )
    return guessed


def upload_parts(
    path: Path, info: media_pb2.UploadInfo, advance: Callable[[int], None]
) -> Iterator[media_pb2.UploadMediaRequest]:
    """The messages of one upload: ``info`` first, then the file in chunks of :data:`CHUNK_SIZE`."""
    yield media_pb2.UploadMediaRequest(info=info)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            yield media_pb2.UploadMediaRequest(chunk=chunk)
            advance(len(chunk))


@app.command("upload")
def upload(
    ctx: typer.Context,
    *,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="The image or video.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
        ),
    ],
    alt: Annotated[
        str | None,
        typer.Option("--alt", metavar="TEXT", help="Alternative text for people who cannot see it."),
    ] = None,
    mime: Annotated[
        str | None,
        typer.Option(
            "--mime", metavar="TYPE", help="MIME type, e.g. image/png; default: from the extension."
        ),
    ] = None,
    width: Annotated[
        int, typer.Option("--width", metavar="PX", min=0, help="Width in pixels, if known.")
    ] = 0,
    height: Annotated[
        int, typer.Option("--height", metavar="PX", min=0, help="Height in pixels, if known.")
    ] = 0,
    duration: Annotated[
        float, typer.Option("--duration", metavar="SECONDS", min=0, help="A video's length, if known.")
    ] = 0.0,
    json_output: JsonOpt = False,
) -> None:
    """Upload an image or video to the media store and print its id (for posts create --media-id).

    Examples:

      resonanz media upload launch.jpg --alt "Das neue Produkt auf einem Holztisch"

      resonanz media upload teaser.mov --mime video/quicktime --duration 14.5
    """
    size = file.stat().st_size
    if size == 0:
        raise typer.BadParameter(f"{file.name!r} is empty", param_hint="FILE")
    info = media_pb2.UploadInfo(
        mime_type=guess_mime(file, mime),
        file_name=file.name,
        alt_text=alt or "",
        size_bytes=size,
        width=width,
        height=height,
        duration_seconds=duration,
    )
    clients = clients_of(ctx)
    timeout = clients.timeout + SECONDS_PER_MIB * size / CHUNK_SIZE
    progress = Progress(
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        disable=size <= PROGRESS_THRESHOLD,
    )
    with handled("publishing", clients.config.publishing_addr), progress:
        task = progress.add_task(escape(file.name), total=size)
        response = clients.media().UploadMedia(
            upload_parts(file, info, lambda n: progress.advance(task, n)),
            metadata=clients.metadata,
            timeout=timeout,
        )
    show(response.media, render_admin.media_panel, as_json=json_output)


@app.command("get")
def get(ctx: typer.Context, media_id: MediaIdArg, json_output: JsonOpt = False) -> None:
    """Show stored media: type, MIME type, size, checksum.

    Example:

      resonanz media get 3f2a9c
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        media = (
            clients.media()
            .GetMedia(
                media_pb2.GetMediaRequest(media_id=media_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .media
        )
    show(media, render_admin.media_panel, as_json=json_output)


@app.command("delete")
def delete(ctx: typer.Context, media_id: MediaIdArg) -> None:
    """Delete stored media.

    Example:

      resonanz media delete 3f2a9c
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        clients.media().DeleteMedia(
            media_pb2.DeleteMediaRequest(media_id=media_id),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    render.stdout().print(f"deleted media {media_id}")
