"""Reading import files (resonanz_cli.csv_import), without any service: delimiters, header rules, row
numbers, local validation of every column, the derived idempotency keys and the error report.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from resonanz_cli.csv_import import (
    COLUMNS,
    ImportFileError,
    column_name,
    parse_bool,
    parse_import,
    read_import,
    row_key,
    sniff_delimiter,
    split_list,
    write_report,
)


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("text,targets\nA,simulated:@a\n", ","),
        ("text;targets\nA;simulated:@a\n", ";"),
        ("text\ttargets\nA\tsimulated:@a\n", "\t"),
        ("text;targets;labels,x\n", ";"),  # the one the header uses most
        ("text\n", ","),
    ],
)
def test_sniff_delimiter(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


def test_column_names_are_normalised() -> None:
    assert column_name(" UTM Source ") == "utm_source"
    assert column_name("Idempotency-Key") == "idempotency_key"
    assert "scheduled_at" in COLUMNS


def test_parse_bool_and_split_list() -> None:
    assert [parse_bool(v, "draft") for v in ("true", "YES", "1", "x", "false", "No", "0", "", " ")] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    with pytest.raises(Exception, match="not true or false"):
        parse_bool("maybe", "draft")
    assert split_list(" a; b;;c ;") == ["a", "b", "c"]


def test_rows_are_numbered_like_a_spreadsheet() -> None:
    parsed = parse_import('text,targets\n"zwei\nzeilen",simulated:@a\n\nB,simulated:@a\n')
    assert [r.number for r in parsed.rows] == [2, 4]
    assert parsed.rows[0].request is not None
    assert parsed.rows[0].request.text == "zwei\nzeilen"


def test_every_problem_of_a_row_is_reported() -> None:
    parsed = parse_import(
        "text,targets,networks,account,scheduled_at,local_time,time_zone,next_slot,draft\n"
        ",a:b;Bad:x,,,2030-01-01T10:00Z,2030-01-01T10:00,UTC,maybe,perhaps\n"
    )
    [row] = parsed.rows
    assert row.request is None
    fields = [field for field, _ in row.violations]
    assert fields == ["text", "targets", "next_slot", "draft"]
    parsed = parse_import("text,networks,account,local_time,time_zone\nA,simulated,,2030-01-01T10:00,\n")
    assert [f for f, _ in parsed.rows[0].violations] == ["account", "local_time"]
    parsed = parse_import(
        "text,targets,networks,scheduled_at,local_time\nA,s:a,s,2030-01-01T10:00Z,2030-01-01T10:00\n"
    )
    assert [f for f, _ in parsed.rows[0].violations] == ["targets", "scheduled_at / local_time"]


def test_values_outside_the_named_columns_are_a_row_error() -> None:
    parsed = parse_import("text,targets\nA,simulated:@a,extra\nB,simulated:@a,,\n")
    assert parsed.rows[0].violations == [("row", "1 value(s) outside the named columns: 'extra'")]
    assert parsed.rows[1].request is not None  # empty trailing cells are fine


def test_error_column_is_ignored_and_not_part_of_the_key() -> None:
    plain = parse_import("text,targets\nA,simulated:@a\n").rows[0]
    reported = parse_import("text,targets,error\nA,simulated:@a,text: too long\n").rows[0]
    assert plain.request is not None
    assert reported.request is not None
    assert plain.request.idempotency_key == reported.request.idempotency_key


def test_row_keys() -> None:
    cells = {"text": "A", "targets": "simulated:@a", "labels": ""}
    key = row_key(2, cells)
    assert key.startswith("csv-")
    assert len(key) <= 200
    assert row_key(2, {"targets": "simulated:@a", "text": "A"}) == key  # order and empty cells do not count
    assert row_key(3, cells) != key  # the same content in another row is another post
    assert row_key(2, {**cells, "text": "B"}) != key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("text,targets\n", "no rows"),
        ("text,targets,foo,bar\nA,s:a,1,2\n", "unknown column(s): bar, foo"),
        ("targets\ns:a\n", "no 'text' column"),
        ("text,networks\nA,s\n", "needs a 'targets' column, or 'networks' and 'account'"),
        ("text,targets,TEXT\nA,s:a,B\n", "more than once: text"),
        ('text,targets\n"A,s:a\nB,s:a\n', "unexpected end of data"),  # an unterminated quote
        ('text,targets\n"A"x,s:a\n', "row 2: ',' expected after '\"'"),
    ],
)
def test_file_errors(text: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse_import(text)


def test_read_import_handles_a_bom_and_refuses_other_encodings(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("\ufefftext;targets\r\nGrüße;simulated:@a\r\n".encode())
    parsed = read_import(path)
    assert parsed.columns == ["text", "targets"]
    assert parsed.rows[0].cells["text"] == "Grüße"
    path.write_bytes("text,targets\nGrüße,simulated:@a\n".encode("cp1252"))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_import(path)


def test_write_report_keeps_the_header_the_delimiter_and_the_keys(tmp_path: Path) -> None:
    parsed = parse_import("Text;Targets;error\nA;simulated:@a;old\n;simulated:@a;old\n")
    good, bad = parsed.rows
    assert good.request is not None
    out = tmp_path / "errors.csv"
    write_report(out, parsed, [(good, "unavailable: gone"), (bad, "text: must not be empty")])
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows == [
        ["Text", "Targets", "idempotency_key", "error"],
        ["A", "simulated:@a", good.request.idempotency_key, "unavailable: gone"],
        ["", "simulated:@a", "", "text: must not be empty"],
    ]
    again = read_import(out)
    assert again.rows[0].request is not None
    assert again.rows[0].request.idempotency_key == good.request.idempotency_key
