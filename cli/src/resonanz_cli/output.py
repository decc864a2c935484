"""Printing a command's result: a Rich rendering for people, or JSON (``--json``) for scripts.

JSON is the protobuf JSON mapping with the proto field names (``post_id``, ``scheduled_at``), enums by
name (``"POST_STATUS_IN_REVIEW"``) and times as RFC 3339 strings; a list is a JSON array.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import RenderableType

from resonanz_cli import render

M = TypeVar("M", bound=Message)

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the result as JSON (protobuf JSON mapping) instead of a table."),
]


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=indent))


def show(message: M, rendering: Callable[[M], RenderableType], *, as_json: bool) -> None:
    """Print one message: ``rendering(message)``, or the message as JSON."""
    if as_json:
        print_json(as_dict(message))
    else:
        render.stdout().print(rendering(message))


def show_all(
    messages: Sequence[M], rendering: Callable[[Sequence[M]], RenderableType], *, as_json: bool
) -> None:
    """Print a list: ``rendering(messages)``, or a JSON array of the messages."""
    if as_json:
        print_json([as_dict(m) for m in messages])
    else:
        render.stdout().print(rendering(messages))
