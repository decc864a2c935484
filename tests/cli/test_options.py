"""Parsers of option values: targets, ISO times, windows, local times and zones, slots, variants, steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from resonanz_cli.options import (
    parse_at,
    parse_key_value,
    parse_local_time,
    parse_slot,
    parse_step,
    parse_target,
    parse_time_zone,
    parse_timestamp,
    parse_variant,
    parse_window,
)


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


def test_parse_at_can_require_an_offset() -> None:
    assert parse_at("2030-01-01T10:00+01:00", require_offset=True) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(typer.BadParameter, match="no UTC offset"):
        parse_at("2030-01-01T10:00", require_offset=True)


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2026-12-01T09:30", "Europe/Berlin", "2026-12-01T09:30"),
        ("2026-12-01 09:30", "Europe/Berlin", "2026-12-01T09:30"),
        ("2026-12-01T09:30:15", "UTC", "2026-12-01T09:30:15"),
        ("2026-10-25T02:30", "Europe/Berlin", "2026-10-25T02:30"),  # ambiguous: left to the service
    ],
)
def test_parse_local_time(value: str, zone: str, expected: str) -> None:
    assert parse_local_time(value, zone) == expected


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("2026-03-29T02:30", "Europe/Berlin"),  # skipped when the clocks go forward
        ("2026-03-08T02:30", "America/New_York"),
        ("2026-12-01T09:30+01:00", "Europe/Berlin"),
        ("tomorrow 9", "Europe/Berlin"),
    ],
)
def test_parse_local_time_rejects(value: str, zone: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_local_time(value, zone)


def test_parse_time_zone() -> None:
    assert parse_time_zone(" Europe/Berlin ") == "Europe/Berlin"
    for bad in ("Berlin", "Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(typer.BadParameter):
            parse_time_zone(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mon 09:00", (1, "09:00")),
        ("Tue 9:05", (2, "09:05")),
        ("wednesday 12:30", (3, "12:30")),
        ("thu  23:59", (4, "23:59")),
        ("FRI 00:00", (5, "00:00")),
        ("sat 10:00", (6, "10:00")),
        ("sunday 18:15", (7, "18:15")),
    ],
)
def test_parse_slot(value: str, expected: tuple[int, str]) -> None:
    assert parse_slot(value) == expected


@pytest.mark.parametrize(
    "value", ["mon", "09:00", "mo 09:00", "mon 24:00", "mon 09:60", "mon 0900", "8 09:00"]
)
def test_parse_slot_rejects(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_slot(value)


def test_parse_variant_and_key_value_and_step() -> None:
    assert parse_variant("simulated=Hallo = Welt") == ("simulated", "Hallo = Welt")
    assert parse_key_value("token=", param_hint="--credential") == ("token", "")
    assert parse_step("legal=2") == ("legal", 2)
    for bad_variant in ("simulated", "=x", "Sim=x"):
        with pytest.raises(typer.BadParameter):
            parse_variant(bad_variant)
    for bad_step in ("legal", "legal=0", "legal=11", "legal=two"):
        with pytest.raises(typer.BadParameter):
            parse_step(bad_step)


def test_parse_timestamp() -> None:
    assert parse_timestamp(None, param_hint="--from") is None
    moment = parse_timestamp("2030-01-01T10:00+01:00", param_hint="--from")
    assert moment is not None
    assert moment.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
