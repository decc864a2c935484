"""Parsers of option values: targets, ISO times and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from resonanz_cli.options import parse_at, parse_target, parse_window


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("simulated:@acme", ("simulated", "@acme")),
        ("mastodon:@acme@social.example", ("mastodon", "@acme@social.example")),
        ("x:urn:li:organization:1", ("x", "urn:li:organization:1")),
        (" simulated : @acme ", ("simulated", "@acme")),
    ],
)
def test_parse_target(value: str, expected: tuple[str, str]) -> None:
    assert parse_target(value) == expected


@pytest.mark.parametrize("value", ["", "simulated", "simulated:", ":acme", "SIM:acme", "a b:acme"])
def test_parse_target_rejects(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_target(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1d12h", timedelta(hours=36)),
        ("30s", timedelta(seconds=30)),
        ("366d", timedelta(days=366)),
        ("7D", timedelta(days=7)),
    ],
)
def test_parse_window(value: str, expected: timedelta) -> None:
    assert parse_window(value) == expected


@pytest.mark.parametrize("value", ["", "7", "d", "7x", "0h", "367d", "1d 2h", "-1h", "1.5h", "h7"])
def test_parse_window_rejects(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_window(value)


def test_parse_at_keeps_the_offset_and_converts_to_utc() -> None:
    assert parse_at("2030-01-01T10:00+01:00") == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert parse_at("2030-01-01T10:00Z") == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)


def test_parse_at_without_offset_is_local_time() -> None:
    naive = datetime(2030, 6, 1, 9, 30)
    assert parse_at("2030-06-01T09:30") == naive.astimezone().astimezone(UTC)


def test_parse_at_rejects_garbage() -> None:
    with pytest.raises(typer.BadParameter):
        parse_at("next tuesday")
