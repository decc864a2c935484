"""``resonanz mentions``: follow and search collected mentions (ListeningService)."""

from __future__ import annotations

from typing import Annotated

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import typer
from rich.markup import escape

from resonanz_cli import render
from resonanz_cli.client import clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, handled, stderr

app = typer.Typer(help="Follow and search mentions.", no_args_is_help=True)


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
    text: Annotated[str, typer.Argument(help="Words to search for in stored mentions.", show_default=False)],
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", metavar="LABEL", help="Only this label (repeatable).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=500, help="Show at most this many.")
    ] = 50,
) -> None:
    """Search stored mentions by text.

    Examples:

      resonanz mentions search "Lieferung verspätet"

      resonanz mentions search outage --label acme --limit 10
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        response = clients.listening().SearchMentions(
            listening_pb2.SearchMentionsRequest(text=text, labels=label or [], page_size=limit),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    mentions = list(response.mentions)[:limit]
    render.stdout().print(
        render.mentions_table(mentions, title=f"{len(mentions)} mention(s) matching {escape(repr(text))}")
    )
