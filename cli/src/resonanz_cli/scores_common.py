"""Options and helpers the ``resonanz scores`` commands share."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf.duration_pb2 import Duration

from resonanz_cli.options import parse_window

WindowOpt = Annotated[
    str,
    typer.Option(
        "--window", "-w", metavar="WINDOW", help="Trailing window: 90m, 24h, 7d, 2w or e.g. 1d12h (max 366d)."
    ),
]
LimitOpt = Annotated[
    int, typer.Option("--limit", "-n", metavar="N", min=1, max=200, help="Show at most this many (1-200).")
]


def window_duration(value: str, *, param_hint: str = "--window") -> Duration:
    """A ``--window``-style value as a protobuf Duration (a bad value names ``param_hint``)."""
    try:
        window = parse_window(value)
    except typer.BadParameter as error:
        raise typer.BadParameter(
            error.message.replace("--window", param_hint), param_hint=param_hint
        ) from None
    duration = Duration()
    duration.FromTimedelta(window)
    return duration
