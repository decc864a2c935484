"""Parsers for option values shared by several commands (targets, times, windows).

Each raises :class:`typer.BadParameter` naming the option, so the message says exactly what to fix.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

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


def parse_at(value: str) -> datetime:
    """An ISO 8601 time; without a UTC offset it is taken as this machine's local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2025-06-01T09:30+02:00)", param_hint="--at"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(UTC)


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
