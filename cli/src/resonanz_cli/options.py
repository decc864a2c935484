"""Parsers for option values shared by several commands and the CSV import (targets, times, windows,
time zones, queue slots, ``key=value`` pairs).

Each raises :class:`typer.BadParameter` naming the option, so the message says exactly what to fix; the
CSV import reuses them and reports ``error.message`` against the column instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from google.protobuf.timestamp_pb2 import Timestamp

_WINDOW_PART = re.compile(r"(\d+)([smhdw])")
_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_WINDOW = timedelta(days=366)
_NETWORK = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def parse_target(value: str) -> tuple[str, str]:
    """``NETWORK:ACCOUNT`` -> ``(network, account)``; the account keeps any further colons."""
    network, sep, account = value.partition(":")
    network = network.strip()
    account = account.strip()
    if not sep or not network or not account:
        raise typer.BadParameter(
            f"{value!r} is not NETWORK:ACCOUNT (e.g. simulated:@acme)", param_hint="--target"
        )
    if not _NETWORK.fullmatch(network):
        raise typer.BadParameter(
            f"network {network!r} must be a lower-case plugin name (e.g. simulated)", param_hint="--target"
        )
    return network, account


def parse_at(value: str, *, param_hint: str = "--at", require_offset: bool = False) -> datetime:
    """An ISO 8601 time in UTC; without a UTC offset it is this machine's local time (or refused)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2025-06-01T09:30+02:00)", param_hint=param_hint
        ) from None
    if moment.tzinfo is None:
        if require_offset:
            raise typer.BadParameter(
                f"{value!r} has no UTC offset (e.g. 2025-06-01T09:30+02:00, or use a local time and a "
                "time zone)",
                param_hint=param_hint,
            )
        moment = moment.astimezone()
    return moment.astimezone(UTC)


def parse_timestamp(value: str | None, *, param_hint: str) -> Timestamp | None:
    """:func:`parse_at` as a protobuf ``Timestamp``; ``None`` stays ``None`` (the option was not given)."""
    if value is None:
        return None
    moment = Timestamp()
    moment.FromDatetime(parse_at(value, param_hint=param_hint))
    return moment


def parse_time_zone(value: str, *, param_hint: str = "--tz") -> str:
    """An IANA time zone name such as ``Europe/Berlin`` (checked against this machine's tz database)."""
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(
            f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
            param_hint=param_hint,
        ) from None
    return name


def parse_local_time(value: str, time_zone: str, *, param_hint: str = "--local") -> str:
    """A wall-clock ``YYYY-MM-DDTHH:MM[:SS]`` without offset, as the service expects it.

    A time that does not exist in ``time_zone`` (the hour skipped when clocks go forward) is refused
    here already, as the service would; an ambiguous one is left to the service (first occurrence).
    """
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise typer.BadParameter(
            f"{value!r} is not a local time like 2026-12-01T09:30 (no offset; the time zone says where)",
            param_hint=param_hint,
        )
    zone = ZoneInfo(time_zone)
    round_trip = moment.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != moment:
        raise typer.BadParameter(
            f"{value!r} does not exist in {time_zone} (the clocks skip it)", param_hint=param_hint
        )
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


#: Weekday names ``parse_slot`` accepts, ISO numbering (1 = Monday).
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NUMBERS = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ),
        start=1,
    )
    for name in names
}
_SLOT = re.compile(r"([a-z]+)\s+(\d{1,2}):(\d{2})")


def parse_slot(value: str) -> tuple[int, str]:
    """``mon 09:00`` (weekday ``mon`` .. ``sun`` or in full) -> ``(1, "09:00")`` with the ISO weekday."""
    match = _SLOT.fullmatch(value.strip().lower())
    weekday = _DAY_NUMBERS.get(match.group(1)) if match is not None else None
    if match is None or weekday is None:
        raise typer.BadParameter(
            f"{value!r} is not a weekly slot like 'mon 09:00' (weekdays {', '.join(WEEKDAY_NAMES)})",
            param_hint="--slot",
        )
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise typer.BadParameter(f"{value!r}: the time must be 00:00 to 23:59", param_hint="--slot")
    return weekday, f"{hour:02d}:{minute:02d}"


def parse_key_value(value: str, *, param_hint: str, what: str = "KEY=VALUE") -> tuple[str, str]:
    """``key=value`` -> ``(key, value)``; the value keeps any further ``=`` and may be empty."""
    key, sep, rest = value.partition("=")
    key = key.strip()
    if not sep or not key:
        raise typer.BadParameter(f"{value!r} is not {what}", param_hint=param_hint)
    return key, rest


def parse_variant(value: str) -> tuple[str, str]:
    """``NETWORK=TEXT`` -> ``(network, text)``: the text that replaces the post's text on that network."""
    network, text = parse_key_value(value, param_hint="--variant", what="NETWORK=TEXT")
    if not _NETWORK.fullmatch(network):
        raise typer.BadParameter(
            f"network {network!r} must be a lower-case plugin name (e.g. simulated)", param_hint="--variant"
        )
    return network, text


def parse_step(value: str) -> tuple[str, int]:
    """``NAME=N`` -> ``(name, n)``: an approval step passed by N different approvers (1..10)."""
    name, count = parse_key_value(value, param_hint="--step", what="NAME=N (e.g. legal=1)")
    try:
        required = int(count)
    except ValueError:
        required = 0
    if not 1 <= required <= 10:
        raise typer.BadParameter(
            f"{value!r}: N must be a whole number of approvals from 1 to 10", param_hint="--step"
        )
    return name, required


def parse_window(value: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` or combinations like ``1d12h``; more than 0, at most 366 days."""
    text = value.strip().lower()
    pos = 0
    total = 0
    for match in _WINDOW_PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _WINDOW_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise typer.BadParameter(
            f"{value!r} is not a window like 90m, 24h, 7d or 1d12h (units s, m, h, d, w)",
            param_hint="--window",
        )
    window = timedelta(seconds=total)
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise typer.BadParameter(
            f"{value!r} must be longer than 0 and at most 366 days", param_hint="--window"
        )
    return window
