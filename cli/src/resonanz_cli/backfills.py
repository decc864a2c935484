"""``resonanz backfills``: list, show, follow and cancel historical backfills (ListeningService).

A backfill runs in the listening service; following it (``watch``, or ``queries backfill`` without
``--detach``) only reads its progress, so Ctrl-C stops watching, never the backfill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Protocol

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from resonanz_cli import render, render_listening
from resonanz_cli.client import Clients, clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, handled, stderr
from resonanz_cli.output import JsonOpt, as_dict, print_json, show, show_all

app = typer.Typer(help="List, show, follow and cancel historical backfills.", no_args_is_help=True)

BackfillIdArg = Annotated[
    str, typer.Argument(metavar="ID", help="The backfill's id (printed when it started).", show_default=False)
]
#: Progress bars count in thousandths of the range.
_STEPS = 1000


class _Bars:
    """A Rich progress display: one bar for the whole backfill and one per network."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._total: TaskID | None = None
        self._networks: dict[str, TaskID] = {}

    def update(self, backfill: listening_pb2.BackfillProgress) -> None:
        if self._total is None:
            self._total = self._progress.add_task(
                f"backfill {escape(backfill.backfill_id)}", total=_STEPS, info=""
            )
        self._progress.update(
            self._total,
            completed=_STEPS * min(backfill.fraction_done, 1.0),
            info=f"{backfill.fetched:,} fetched, {backfill.collected:,} new "
            f"[{render_listening.backfill_state(backfill.state)}]",
        )
        for network in backfill.networks:
            task = self._networks.get(network.network)
            if task is None:
                task = self._progress.add_task(f"  {escape(network.network)}", total=_STEPS, info="")
                self._networks[network.network] = task
            info = f"{network.fetched:,} fetched, {network.collected:,} new"
            if network.error:
                info += f" — {network.error}"
            self._progress.update(task, completed=_STEPS * min(network.fraction_done, 1.0), info=escape(info))


def follow(
    updates: Iterable[listening_pb2.BackfillProgress], *, as_json: bool
) -> listening_pb2.BackfillProgress | None:
    """Show each progress update until the stream ends; returns the last one (None if there was none).

    With ``as_json`` every update is printed as one JSON line; otherwise a progress bar is drawn on
    stderr and the final state is printed as a panel on stdout by the caller.
    """
    last: listening_pb2.BackfillProgress | None = None
    if as_json:
        for last in updates:
            print_json(as_dict(last), indent=None)
        return last
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=stderr(),
    )
    bars = _Bars(progress)
    with progress:
        for last in updates:
            bars.update(last)
    return last


def finish(last: listening_pb2.BackfillProgress | None, *, as_json: bool) -> None:
    """Print the final state (tables only) and exit 1 when the backfill failed or was cancelled."""
    if last is None:
        return
    if not as_json:
        render.stdout().print(render_listening.backfill_panel(last))
    if last.state in (listening_pb2.BACKFILL_STATE_FAILED, listening_pb2.BACKFILL_STATE_CANCELLED):
        stderr().print(
            f"backfill {escape(last.backfill_id)} {render_listening.backfill_state(last.state)}"
            + (f": {escape(last.error)}" if last.error else "")
        )
        raise typer.Exit(EXIT_USER_ERROR)


class _Update(Protocol):
    """A BackfillResponse or WatchBackfillResponse."""

    @property
    def backfill(self) -> listening_pb2.BackfillProgress: ...


def watch_stream(
    clients: Clients, stream: Iterable[_Update], *, as_json: bool, backfill_id: str = ""
) -> None:
    """Follow a Backfill/WatchBackfill call until it ends; Ctrl-C stops watching, not the backfill.

    ``stream`` is the call itself, so that it can be cancelled.
    """
    seen: list[str] = [backfill_id] if backfill_id else []

    def updates() -> Iterator[listening_pb2.BackfillProgress]:
        for response in stream:
            if not seen:
                seen.append(response.backfill.backfill_id)
            yield response.backfill

    try:
        with handled("listening", clients.config.listening_addr):
            last = follow(updates(), as_json=as_json)
    except KeyboardInterrupt:
        cancel = getattr(stream, "cancel", None)
        if callable(cancel):
            cancel()
        if seen:
            stderr().print(
                "stopped watching; the backfill goes on. Follow it again with: "
                f"resonanz backfills watch {escape(seen[0])}"
            )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finish(last, as_json=as_json)


@app.command("list")
def list_backfills(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", metavar="ID", help="Only this query's backfills.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List backfills, newest first.

    Examples:

      resonanz backfills list

      resonanz backfills list --query 5f0c2a
    """
    clients = clients_of(ctx)
    found: list[listening_pb2.BackfillProgress] = []
    token = ""
    with handled("listening", clients.config.listening_addr):
        while True:
            response = clients.listening().ListBackfills(
                listening_pb2.ListBackfillsRequest(query_id=query or "", page_size=500, page_token=token),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            found.extend(response.backfills)
            token = response.next_page_token
            if not token or not response.backfills:
                break
    show_all(found, render_listening.backfills_table, as_json=json_output)


@app.command("show")
def show_backfill(ctx: typer.Context, backfill_id: BackfillIdArg, json_output: JsonOpt = False) -> None:
    """Show a backfill: state, range, totals and the progress of each network.

    Example:

      resonanz backfills show 8d1e7b
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        backfill = (
            clients.listening()
            .GetBackfill(
                listening_pb2.GetBackfillRequest(backfill_id=backfill_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .backfill
        )
    show(backfill, render_listening.backfill_panel, as_json=json_output)


@app.command("watch")
def watch(ctx: typer.Context, backfill_id: BackfillIdArg, json_output: JsonOpt = False) -> None:
    """Follow a backfill's progress until it ends (Ctrl-C stops watching, not the backfill).

    Exits with 1 when the backfill failed or was cancelled.

    Example:

      resonanz backfills watch 8d1e7b
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        stream = clients.listening().WatchBackfill(
            listening_pb2.WatchBackfillRequest(backfill_id=backfill_id), metadata=clients.metadata
        )
    watch_stream(clients, stream, as_json=json_output, backfill_id=backfill_id)


@app.command("cancel")
def cancel(ctx: typer.Context, backfill_id: BackfillIdArg, json_output: JsonOpt = False) -> None:
    """Cancel a pending or running backfill; what it collected so far stays.

    Example:

      resonanz backfills cancel 8d1e7b
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        backfill = (
            clients.listening()
            .CancelBackfill(
                listening_pb2.CancelBackfillRequest(backfill_id=backfill_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .backfill
        )
    show(backfill, render_listening.backfill_panel, as_json=json_output)
