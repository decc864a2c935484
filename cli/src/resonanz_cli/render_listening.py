"""Rich renderings of listening collection state and backfills (GetQueryStatus, Backfill*)."""

from __future__ import annotations

from collections.abc import Sequence

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from resonanz_cli.render import enum_label, timestamp

_STATE_STYLE = {
    "pending": "blue",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
}

#: Backfill states after which nothing changes any more.
FINAL_STATES = frozenset(
    {
        listening_pb2.BACKFILL_STATE_SUCCEEDED,
        listening_pb2.BACKFILL_STATE_FAILED,
        listening_pb2.BACKFILL_STATE_CANCELLED,
    }
)


def backfill_state(state: listening_pb2.BackfillState.ValueType) -> str:
    return enum_label(listening_pb2.BackfillState.Name(state), "BACKFILL_STATE_")


def _state_text(state: listening_pb2.BackfillState.ValueType) -> Text:
    label = backfill_state(state)
    return Text(label, style=_STATE_STYLE.get(label, ""))


def percent(fraction: float) -> str:
    return f"{max(0.0, min(fraction, 1.0)) * 100:.1f}%"


def collection_table(query_id: str, states: Sequence[listening_pb2.CollectionState]) -> Table:
    """GetQueryStatus: one row per network the query is collected from."""
    table = Table(title=f"collection of query {escape(query_id)}")
    for column in ("network", "mode", "owner", "lease until", "last poll", "backoff until", "collected"):
        table.add_column(column, overflow="fold")
    table.add_column("last error", overflow="fold")
    for s in states:
        backoff = timestamp(s.backoff_until)
        table.add_row(
            escape(s.network),
            escape(s.mode or "-"),
            escape(s.owner or "none"),
            timestamp(s.lease_expires_at),
            timestamp(s.last_polled_at),
            Text(backoff, style="yellow") if backoff != "-" else backoff,
            f"{s.mentions_collected:,}",
            Text(s.last_error or "-", style="red" if s.last_error else ""),
        )
    if not states:
        table.caption = "not collected anywhere yet (disabled, or no replica has picked it up)"
    return table


def backfills_table(backfills: Sequence[listening_pb2.BackfillProgress]) -> Table:
    table = Table(title=f"{len(backfills)} backfill{'' if len(backfills) == 1 else 's'}")
    for column in ("id", "query", "state", "since", "until", "done", "fetched", "collected", "created"):
        table.add_column(column, overflow="fold")
    for b in backfills:
        table.add_row(
            escape(b.backfill_id),
            escape(b.query_id),
            _state_text(b.state),
            timestamp(b.since),
            timestamp(b.until),
            percent(b.fraction_done),
            f"{b.fetched:,}",
            f"{b.collected:,}",
            timestamp(b.created_at),
        )
    return table


def backfill_panel(backfill: listening_pb2.BackfillProgress) -> Panel:
    """One backfill: its range and totals, and the progress of each network."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("query", escape(backfill.query_id))
    head.add_row("state", _state_text(backfill.state))
    head.add_row("range", f"{timestamp(backfill.since)} → {timestamp(backfill.until)}")
    head.add_row("done", percent(backfill.fraction_done))
    head.add_row("fetched", f"{backfill.fetched:,} posts, {backfill.collected:,} new mentions")
    head.add_row("created", timestamp(backfill.created_at))
    head.add_row("finished", timestamp(backfill.finished_at))
    if backfill.error:
        head.add_row("error", Text(backfill.error, style="red"))
    networks = Table(title="networks")
    for column in ("network", "state", "reached", "done", "fetched", "collected", "error"):
        networks.add_column(column, overflow="fold")
    for n in backfill.networks:
        networks.add_row(
            escape(n.network),
            _state_text(n.state),
            timestamp(n.reached),
            percent(n.fraction_done),
            f"{n.fetched:,}",
            f"{n.collected:,}",
            Text(n.error or "-", style="red" if n.error else ""),
        )
    return Panel(Group(head, networks), title=f"backfill {escape(backfill.backfill_id)}", expand=False)


def backfill_line(backfill: listening_pb2.BackfillProgress) -> Text:
    """One line per progress update (``backfills watch`` without a terminal, and ``--json`` off)."""
    line = Text()
    line.append(f"{backfill.backfill_id}  ")
    line.append_text(_state_text(backfill.state))
    line.append(f"  {percent(backfill.fraction_done)}  fetched {backfill.fetched:,}")
    line.append(f"  collected {backfill.collected:,}")
    if backfill.error:
        line.append(f"  {backfill.error}", style="red")
    return line


__all__ = [
    "FINAL_STATES",
    "backfill_line",
    "backfill_panel",
    "backfill_state",
    "backfills_table",
    "collection_table",
    "percent",
]
