"""``resonanz posts import FILE.csv``: bulk creation, several rows at a time, with a per-row report.

Each valid row becomes one ``CreatePost`` with an idempotency key (the row's own, or one derived from
its content and row number, see :func:`resonanz_cli.csv_import.row_key`), so running the same import
again never creates a post twice: the service answers with the post it already has.

Rows are sent by a bounded pool of threads (the blocking gRPC stub is thread-safe); when the service
cannot be reached, no further rows are sent and the import ends with exit code 2.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import grpc
import typer
from resonanz.common.v1 import content_pb2
from resonanz_sdk.grpc import field_violations
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from resonanz_cli import render
from resonanz_cli.client import Clients, clients_of
from resonanz_cli.csv_import import ImportFile, ImportFileError, ImportRow, read_import, write_report
from resonanz_cli.errors import EXIT_UNAVAILABLE, EXIT_USER_ERROR, fail, rpc_code, rpc_details, stderr
from resonanz_cli.output import print_json

#: Trailing metadata of CreatePost: ``"true"`` when the idempotency key was known and the existing
#: post came back, ``"false"`` when this call created it. Only for an older service that does not send
#: it, a post created before the import started counts as already existing.
REPLAYED_METADATA_KEY = "x-resonanz-replayed"
DEFAULT_CONCURRENCY = 8
_UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class Outcome(StrEnum):
    CREATED = "created"
    EXISTED = "already existed"
    WOULD_CREATE = "would create"
    FAILED = "failed"
    NOT_SENT = "not sent"


@dataclass
class RowResult:
    row: ImportRow
    outcome: Outcome
    post_id: str = ""
    error: str = ""
    unreachable: bool = False


def _violations_text(violations: list[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {description}" for field, description in violations)


def _replayed(call: grpc.Call, post: content_pb2.Post, started: datetime) -> bool:
    for key, value in (*(call.initial_metadata() or ()), *(call.trailing_metadata() or ())):
        if key == REPLAYED_METADATA_KEY:
            return str(value).lower() == "true"
    return post.HasField("created_at") and post.created_at.ToDatetime(tzinfo=UTC) < started


class Sender:
    """Sends rows with at most ``concurrency`` calls in flight and stops once the service is unreachable."""

    def __init__(self, clients: Clients, *, concurrency: int, started: datetime) -> None:
        self._clients = clients
        self._stub = clients.publishing()
        self._concurrency = concurrency
        self._started = started
        self._unreachable = threading.Event()

    def send(self, row: ImportRow) -> RowResult:
        if row.request is None:
            return RowResult(row, Outcome.FAILED, error=_violations_text(row.violations))
        if self._unreachable.is_set():
            return RowResult(row, Outcome.NOT_SENT, error="not sent: the service could not be reached")
        try:
            response, call = self._stub.CreatePost.with_call(
                row.request, metadata=self._clients.metadata, timeout=self._clients.timeout
            )
        except grpc.RpcError as error:
            code = rpc_code(error)
            if code in _UNREACHABLE:
                self._unreachable.set()
            violations = [(v.field, v.description) for v in field_violations(error)]
            detail = _violations_text(violations) or rpc_details(error) or "no details"
            return RowResult(
                row, Outcome.FAILED, error=f"{code.name.lower()}: {detail}", unreachable=code in _UNREACHABLE
            )
        post = response.post
        outcome = Outcome.EXISTED if _replayed(call, post, self._started) else Outcome.CREATED
        return RowResult(row, outcome, post_id=post.id)

    def send_all(self, rows: list[ImportRow], advance: Callable[[], None]) -> list[RowResult]:
        results: dict[int, RowResult] = {}
        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="import") as pool:
            futures = {pool.submit(self.send, row): row.number for row in rows}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                advance()
        return [results[row.number] for row in rows]


def report_table(results: list[RowResult], *, errors_only: bool) -> Table:
    shown = [r for r in results if not errors_only or r.outcome in (Outcome.FAILED, Outcome.NOT_SENT)]
    table = Table(title=f"{len(results)} row(s)" + (f", {len(shown)} shown" if errors_only else ""))
    for column in ("row", "result", "post", "key / error"):
        table.add_column(column, overflow="fold")
    for r in shown:
        failed = r.outcome in (Outcome.FAILED, Outcome.NOT_SENT)
        table.add_row(
            str(r.row.number),
            Text(r.outcome.value, style="red") if failed else render.styled(r.outcome.value),
            escape(r.post_id),
            Text(r.error, style="red") if failed else escape(r.row.idempotency_key),
        )
    return table


def result_dict(result: RowResult) -> dict[str, object]:
    """One row's result for ``--json``."""
    return {
        "row": result.row.number,
        "result": result.outcome.value,
        "post_id": result.post_id,
        "idempotency_key": result.row.idempotency_key,
        "error": result.error,
    }


def _summary(results: list[RowResult]) -> str:
    counts = Counter(r.outcome for r in results)
    return ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])


def _local_results(parsed: ImportFile) -> list[RowResult]:
    return [
        RowResult(r, Outcome.WOULD_CREATE)
        if r.request is not None
        else RowResult(r, Outcome.FAILED, error=_violations_text(r.violations))
        for r in parsed.rows
    ]


def import_posts(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="CSV with a header row; see 'docs/cli.md' for the columns.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
        ),
    ],
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only read and check the file locally; send nothing.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="ERRORS.csv",
            help="Write the failed rows with an 'error' column, to fix and import again.",
            dir_okay=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", metavar="N", min=1, max=64, help="Rows sent at the same time."),
    ] = DEFAULT_CONCURRENCY,
    errors_only: Annotated[
        bool, typer.Option("--errors-only", help="List only the rows that failed.")
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print the per-row results as JSON (row, result, post_id, key, error)."),
    ] = False,
) -> None:
    """Create one post per CSV row, several at a time, and report each row.

    Columns (header row, any order): text, targets ("network:account;...") or networks ("a;b") and
    account, scheduled_at (ISO with offset) or local_time and time_zone or next_slot, campaign_id,
    labels ("a;b"), media_ids ("id;id"), utm_source .. utm_content, draft, idempotency_key.

    Running the same import again creates nothing twice. Exit code 0 when every row was created or
    already existed, 1 when some failed, 2 when the service could not be reached.

    Examples:

      resonanz posts import posts.csv --dry-run

      resonanz posts import posts.csv --report errors.csv

      resonanz posts import errors.csv --report errors-2.csv
    """
    try:
        parsed = read_import(file)
    except ImportFileError as error:
        fail(f"{file}: {error}")
    console = render.stdout()
    address = ""
    if dry_run:
        results = _local_results(parsed)
    else:
        clients = clients_of(ctx)
        address = clients.config.publishing_addr
        sender = Sender(clients, concurrency=concurrency, started=datetime.now(UTC))
        progress = Progress(
            TextColumn("importing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr(),
        )
        with progress:
            task = progress.add_task(escape(file.name), total=len(parsed.rows))
            results = sender.send_all(parsed.rows, lambda: progress.advance(task))
    failed = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.NOT_SENT)]
    if json_output:
        shown = failed if errors_only else results
        print_json([result_dict(r) for r in shown])
    else:
        console.print(report_table(results, errors_only=errors_only))
        console.print(_summary(results))
    if report is not None:
        write_report(report, parsed, [(r.row, r.error) for r in failed])
        stderr().print(f"{len(failed)} failed row(s) written to {escape(str(report))}")
    if any(r.unreachable for r in results):
        stderr().print(
            f"hint: the publishing service at {escape(address)} could not be reached; "
            "run the same import again when it is back (rows already created are not created twice)."
        )
        raise typer.Exit(EXIT_UNAVAILABLE)
    if failed:
        raise typer.Exit(EXIT_USER_ERROR)


def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``posts`` group."""
    app.command("import")(import_posts)
