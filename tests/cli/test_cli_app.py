"""The ``resonanz`` app itself: every command documents itself with examples; usage errors exit 1."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from resonanz_cli.app import app
from typer.testing import CliRunner

runner = CliRunner()

COMMANDS: list[tuple[str, ...]] = [
    ("posts", "create"),
    ("posts", "list"),
    ("posts", "get"),
    ("posts", "watch"),
    ("queries", "add"),
    ("queries", "list"),
    ("queries", "delete"),
    ("mentions", "tail"),
    ("mentions", "search"),
    ("scores", "show"),
    ("scores", "mentions"),
    ("plugins", "list"),
    ("posts", "update"),
    ("posts", "submit"),
    ("posts", "approve"),
    ("posts", "reject"),
    ("posts", "cancel"),
    ("posts", "comment"),
    ("posts", "comments"),
    ("posts", "audit"),
    ("posts", "delete-published"),
    ("posts", "reply"),
    ("posts", "import"),
    ("accounts", "connect"),
    ("accounts", "list"),
    ("accounts", "get"),
    ("accounts", "update-credentials"),
    ("accounts", "disconnect"),
    ("accounts", "rotate-keys"),
    ("accounts", "queue", "set"),
    ("accounts", "queue", "show"),
    ("workspace", "members"),
    ("workspace", "member", "set"),
    ("workspace", "member", "remove"),
    ("workspace", "policy", "show"),
    ("workspace", "policy", "set"),
    ("workspace", "campaigns", "create"),
    ("workspace", "campaigns", "get"),
    ("workspace", "campaigns", "list"),
    ("media", "upload"),
    ("media", "get"),
    ("media", "delete"),
    ("queries", "show"),
    ("queries", "update"),
    ("queries", "status"),
    ("queries", "backfill"),
    ("backfills", "list"),
    ("backfills", "show"),
    ("backfills", "watch"),
    ("backfills", "cancel"),
    ("scores", "dashboard"),
    ("scores", "authors"),
    ("scores", "cascades"),
    ("scores", "cascade"),
    ("scores", "alerts"),
    ("scores", "campaign-report"),
    ("scores", "draft"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"resonanz {' '.join(command)}" in result.output


def test_root_help_lists_the_groups_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for group in ("posts", "queries", "mentions", "scores", "plugins", "accounts", "workspace", "media"):
        assert group in result.output
    assert "2 a service is unavailable" in result.output
    assert "--as" in result.output


@pytest.mark.parametrize(
    "args", [["nope"], ["posts", "nope"], ["--bogus", "posts", "list"], ["posts", "get"]]
)
def test_usage_errors_exit_with_1(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output


def test_an_invalid_setting_is_a_user_error_not_a_traceback() -> None:
    result = runner.invoke(app, ["posts", "list"], env={"RESONANZ_PUBLISHING_PORT": "abc"})
    assert result.exit_code == 1
    assert "RESONANZ_PUBLISHING_PORT" in result.output
    assert "Traceback" not in result.output


def _leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every runnable command under ``group`` (Typer vendors its own click: groups have ``commands``)."""
    found: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found |= _leaf_commands(command, (*prefix, name))
        else:
            found.add((*prefix, name))
    return found


def test_the_help_test_covers_every_command() -> None:
    assert _leaf_commands(typer.main.get_command(app)) == set(COMMANDS)
