"""Reading a CSV file of posts for ``resonanz posts import``: columns, rows and local validation.

Pure (no gRPC): :func:`parse_import` turns the file's text into :class:`ImportRow` s, each with the
``CreatePostRequest`` it stands for or the violations that keep it from being sent. Problems with the
file as a whole (no header, an unknown or repeated column, no text or target column) raise
:class:`ImportFileError` before anything is sent.

Format: UTF-8 (a byte-order mark is fine), the delimiter ``,``, ``;`` or tab as the header line uses it,
quoted cells may hold delimiters and newlines. Lists inside a cell (targets, networks, labels, media
ids) are separated by ``;`` (quote the cell when the file itself uses ``;``). Row numbers are counted
as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import typer

from resonanz_cli.options import parse_target
from resonanz_cli.post_options import UTM_FIELDS, PostOptions, apply, parse_schedule

#: Every column the import understands (header names are matched case-insensitively).
COLUMNS = (
    "text",
    "targets",
    "networks",
    "account",
    "scheduled_at",
    "local_time",
    "time_zone",
    "next_slot",
    "campaign_id",
    "labels",
    "media_ids",
    *(f"utm_{name}" for name in UTM_FIELDS),
    "draft",
    "idempotency_key",
)
#: Written by ``--report`` next to a failed row; ignored when that report is imported again.
ERROR_COLUMN = "error"
_DELIMITERS = (",", ";", "\t")
_TRUE = frozenset({"true", "yes", "y", "1", "x"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
#: Prefix of the idempotency keys the import derives for rows without one.
KEY_PREFIX = "csv-"


class ImportFileError(Exception):
    """The file cannot be imported at all; nothing is sent."""


@dataclass
class ImportRow:
    """One data row: where it is, what it said, and the request it becomes (or why it cannot)."""

    number: int
    cells: dict[str, str]
    request: publishing_pb2.CreatePostRequest | None = None
    violations: list[tuple[str, str]] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        return (
            self.request.idempotency_key
            if self.request is not None
            else self.cells.get("idempotency_key", "")
        )


@dataclass
class ImportFile:
    """The parsed file: its header as written, the delimiter it uses and its data rows."""

    header: list[str]
    columns: list[str]
    delimiter: str
    rows: list[ImportRow]


def column_name(raw: str) -> str:
    """How a header cell is matched: ``" UTM Source"`` -> ``utm_source``."""
    return raw.strip().lower().replace(" ", "_").replace("-", "_")


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (``,`` when it has none: a one-column header)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def row_key(number: int, cells: dict[str, str]) -> str:
    """The idempotency key of a row without one: a hash of its row number and its non-empty cells.

    Importing the same file again sends the same keys, so the service returns the posts it already
    has instead of creating them twice. Column order and empty columns do not change the key.
    """
    content = sorted((name, value) for name, value in cells.items() if value and name != ERROR_COLUMN)
    digest = hashlib.sha256(json.dumps([number, content], ensure_ascii=False).encode()).hexdigest()
    return KEY_PREFIX + digest[:40]


def parse_bool(value: str, column: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise typer.BadParameter(f"{value!r} is not true or false", param_hint=column)


def split_list(value: str) -> list[str]:
    """``"a; b;;c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in value.split(";") if part.strip()]


def _check_columns(columns: list[str]) -> None:
    named = [c for c in columns if c]
    unknown = sorted({c for c in named if c not in COLUMNS and c != ERROR_COLUMN})
    if unknown:
        raise ImportFileError(
            f"unknown column(s): {', '.join(unknown)}; the columns are: {', '.join(COLUMNS)}"
        )
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        raise ImportFileError(f"column(s) given more than once: {', '.join(repeated)}")
    if "text" not in named:
        raise ImportFileError("the header has no 'text' column")
    if "targets" not in named and not {"networks", "account"} <= set(named):
        raise ImportFileError("the header needs a 'targets' column, or 'networks' and 'account' columns")


def _targets(cells: dict[str, str]) -> list[tuple[str, str]]:
    targets_cell, networks_cell = cells.get("targets", "").strip(), cells.get("networks", "").strip()
    account = cells.get("account", "").strip()
    if targets_cell and networks_cell:
        raise typer.BadParameter("give targets or networks, not both", param_hint="targets")
    if targets_cell:
        found = []
        for value in split_list(targets_cell):
            try:
                found.append(parse_target(value))
            except typer.BadParameter as error:
                raise typer.BadParameter(error.message, param_hint="targets") from None
        return found
    if networks_cell:
        if not account:
            raise typer.BadParameter("networks needs the account to publish from", param_hint="account")
        try:
            return [parse_target(f"{network}:{account}") for network in split_list(networks_cell)]
        except typer.BadParameter as error:
            raise typer.BadParameter(error.message, param_hint="networks") from None
    raise typer.BadParameter(
        "give targets (network:account;...) or networks and account", param_hint="targets"
    )


def _hint(error: typer.BadParameter) -> str:
    return error.param_hint if isinstance(error.param_hint, str) else "row"


def build_row(number: int, cells: dict[str, str]) -> ImportRow:
    """Validate one row locally and build its request; every problem is collected, not just the first."""
    row = ImportRow(number=number, cells=cells)
    options = PostOptions(utm={})

    def attempt(step: str) -> None:
        try:
            _steps[step](cells, options)
        except typer.BadParameter as error:
            row.violations.append((_hint(error), error.message))

    for step in _steps:
        attempt(step)
    if row.violations:
        return row
    options.idempotency_key = cells.get("idempotency_key", "").strip() or row_key(number, cells)
    row.request = apply(options, publishing_pb2.CreatePostRequest())
    return row


def _text(cells: dict[str, str], options: PostOptions) -> None:
    text = cells.get("text", "")
    if not text.strip():
        raise typer.BadParameter("must not be empty", param_hint="text")
    options.text = text


def _target_step(cells: dict[str, str], options: PostOptions) -> None:
    options.targets = _targets(cells)


def _schedule(cells: dict[str, str], options: PostOptions) -> None:
    options.schedule = parse_schedule(
        at=cells.get("scheduled_at", "").strip() or None,
        local=cells.get("local_time", "").strip() or None,
        tz=cells.get("time_zone", "").strip() or None,
        next_slot=parse_bool(cells.get("next_slot", ""), "next_slot"),
        hints=("scheduled_at", "local_time", "time_zone", "next_slot"),
        require_offset=True,
    )


def _plain(cells: dict[str, str], options: PostOptions) -> None:
    options.campaign_id = cells.get("campaign_id", "").strip() or None
    options.labels = split_list(cells.get("labels", "")) or None
    options.media_ids = split_list(cells.get("media_ids", "")) or None
    options.utm = {
        name: cells[f"utm_{name}"].strip() for name in UTM_FIELDS if cells.get(f"utm_{name}", "").strip()
    }


def _draft(cells: dict[str, str], options: PostOptions) -> None:
    options.draft = parse_bool(cells.get("draft", ""), "draft")


_steps = {"text": _text, "targets": _target_step, "schedule": _schedule, "plain": _plain, "draft": _draft}


def _records(text: str, delimiter: str) -> Iterable[tuple[int, list[str]]]:
    # strict: an unterminated quote is an error, not a cell that swallows the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise ImportFileError(f"row {reader.line_num}: {error}") from None


def parse_import(text: str) -> ImportFile:
    """Parse the whole file (already decoded); raises :class:`ImportFileError` for file-level problems."""
    text = text.removeprefix("\ufeff")
    delimiter = sniff_delimiter(text)
    records = iter(_records(text, delimiter))
    header: list[str] | None = None
    for _, record in records:
        if any(cell.strip() for cell in record):
            header = record
            break
    if header is None:
        raise ImportFileError("the file is empty: it needs a header row and at least one row of posts")
    columns = [column_name(cell) for cell in header]
    _check_columns(columns)
    rows: list[ImportRow] = []
    for number, record in records:
        if not any(cell.strip() for cell in record):
            continue
        extra = [
            value for i, value in enumerate(record) if (i >= len(columns) or not columns[i]) and value.strip()
        ]
        cells = {name: record[i] if i < len(record) else "" for i, name in enumerate(columns) if name}
        if extra:
            row = ImportRow(
                number=number,
                cells=cells,
                violations=[
                    ("row", f"{len(extra)} value(s) outside the named columns: {', '.join(map(repr, extra))}")
                ],
            )
        else:
            row = build_row(number, cells)
        rows.append(row)
    if not rows:
        raise ImportFileError("the file has a header but no rows of posts")
    return ImportFile(header=header, columns=columns, delimiter=delimiter, rows=rows)


def read_import(path: Path) -> ImportFile:
    """Read and parse ``path`` (UTF-8, with or without a byte-order mark)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"{path} is not UTF-8 (byte {error.start}); save it as 'CSV UTF-8' and import it again"
        ) from None
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror}") from None
    return parse_import(text)


def write_report(path: Path, parsed: ImportFile, failed: list[tuple[ImportRow, str]]) -> None:
    """Write the failed rows, as they were plus an ``error`` column, so they can be fixed and imported again.

    The idempotency key each row was sent with is written into ``idempotency_key``, so that a row whose
    outcome was unknown (the service went away mid-import) cannot be created twice by the re-import.
    """
    header = [
        cell
        for cell, name in zip(parsed.header, parsed.columns, strict=True)
        if name and name != ERROR_COLUMN
    ]
    names = [name for name in parsed.columns if name and name != ERROR_COLUMN]
    if "idempotency_key" not in names:
        header.append("idempotency_key")
        names.append("idempotency_key")
    header.append(ERROR_COLUMN)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=parsed.delimiter)
        writer.writerow(header)
        for row, error in failed:
            values = {**row.cells, "idempotency_key": row.idempotency_key}
            writer.writerow([*(values.get(name, "") for name in names), error])
