"""``resonanz mentions``: follow and search collected mentions (ListeningService)."""

from __future__ import annotations

from typing import Annotated

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import typer
from resonanz.common.v1 import mention_pb2
from rich.markup import escape

from resonanz_cli import render
from resonanz_cli.client import clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, handled, stderr
from resonanz_cli.options import parse_timestamp
from resonanz_cli.output import JsonOpt, show_all

app = typer.Typer(help="Follow and search mentions.", no_args_is_help=True)

#: The most mentions one SearchMentions call asks for (the service's maximum page size).
PAGE_SIZE = 500


@app.command("tail")
def tail(
    ctx: typer.Context,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", metavar="LABEL", help="Only this label (repeatable).")
    ] = None,
    network: Annotated[
        list[str] | None, typer.Option("--network", metavar="NETWORK", help="Only this network (repeatable).")
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor", "-c", metavar="CURSOR", help="Resume after this cursor (printed when tail stops)."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", "-n", metavar="N", min=1, help="Stop after this many mentions; default: follow."
        ),
    ] = None,
) -> None:
    """Print mentions as they are collected: stored ones first, then new ones live.

    When it stops (--limit reached, the stream ends or Ctrl-C) it prints the cursor to resume from.

    Examples:

      resonanz mentions tail --label acme

      resonanz mentions tail --network simulated --limit 20

      resonanz mentions tail --cursor 000000000042
    """
    clients = clients_of(ctx)
    console = render.stdout()
    request = listening_pb2.StreamMentionsRequest(
        cursor=cursor or "", labels=label or [], networks=network or []
    )
    last_cursor = cursor or ""
    seen = 0
    interrupted = False
    with handled("listening", clients.config.listening_addr):
        stream = clients.listening().StreamMentions(request, metadata=clients.metadata)
        try:
            for response in stream:
                console.print(render.mention_line(response.mention), soft_wrap=True)
                last_cursor = response.cursor or last_cursor
                seen += 1
                if limit is not None and seen >= limit:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            stream.cancel()
    note = stderr()
    note.print(f"{seen} mention(s)")
    if last_cursor:
        note.print(f"resume with: resonanz mentions tail --cursor {escape(last_cursor)}")
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command("search")
def search(
    ctx: typer.Context,
    *,
    text: Annotated[
        str,
        typer.Argument(
            help='Full-text query: words, "phrases", -excluded words, OR. Empty ("") lists what the '
            "filters match.",
            show_default=False,
        ),
    ],
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", metavar="LABEL", help="Only this label (repeatable).")
    ] = None,
    network: Annotated[
        list[str] | None, typer.Option("--network", metavar="NETWORK", help="Only this network (repeatable).")
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option("--query", "-q", metavar="ID", help="Only mentions this query collected (repeatable)."),
    ] = None,
    language: Annotated[
        list[str] | None,
        typer.Option("--language", metavar="LANG", help="Only this language, ISO 639-1 (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="TIME",
            help="Published at or after this ISO 8601 time or date (no offset: this machine's zone).",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="TIME", help="Published before this time.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=5000, help="Show at most this many.")
    ] = 50,
    json_output: JsonOpt = False,
) -> None:
    """Search stored mentions, newest first.

    Examples:

      resonanz mentions search "Lieferung verspätet"

      resonanz mentions search 'outage -test' --label acme --since 2026-11-01 --limit 10

      resonanz mentions search "" --network simulated --language de
    """
    request = listening_pb2.SearchMentionsRequest(
        text=text,
        labels=label or [],
        networks=network or [],
        query_ids=query or [],
        languages=language or [],
    )
    start = parse_timestamp(since, param_hint="--since")
    end = parse_timestamp(until, param_hint="--until")
    if start is not None:
        request.since.CopyFrom(start)
    if end is not None:
        if start is not None and end.ToDatetime() <= start.ToDatetime():
            raise typer.BadParameter("must be after --since", param_hint="--until")
        request.until.CopyFrom(end)
    clients = clients_of(ctx)
    mentions: list[mention_pb2.Mention] = []
    with handled("listening", clients.config.listening_addr):
        while len(mentions) < limit:
            request.page_size = min(limit - len(mentions), PAGE_SIZE)
            response = clients.listening().SearchMentions(
                request, metadata=clients.metadata, timeout=clients.timeout
            )
            mentions.extend(response.mentions)
            request.page_token = response.next_page_token
            if not response.next_page_token or not response.mentions:
                break
    mentions = mentions[:limit]
    title = f"{len(mentions)} mention(s)" + (f" matching {escape(repr(text))}" if text else "")
    show_all(mentions, lambda found: render.mentions_table(found, title=title), as_json=json_output)
