"""``resonanz plugins list``: the installed network plugins, found through real entry points."""

from __future__ import annotations

from resonanz_cli.app import app
from typer.testing import CliRunner

runner = CliRunner()


def test_lists_the_simulated_plugin_with_its_manifest() -> None:
    result = runner.invoke(app, ["plugins", "list"], env={"RESONANZ_PLUGINS": "simulated", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Simulated network" in result.output
    assert "network     simulated" in result.output
    assert "publish" in result.output
    assert "rate limit" in result.output
    assert "code_points" in result.output


def test_no_plugins_when_none_are_allowed() -> None:
    result = runner.invoke(app, ["plugins", "list"], env={"RESONANZ_PLUGINS": ""})
    assert result.exit_code == 0
    assert "no network plugins installed" in result.output


def test_an_allowed_plugin_that_is_not_installed_is_a_user_error() -> None:
    result = runner.invoke(app, ["plugins", "list"], env={"RESONANZ_PLUGINS": "simulated,myspace"})
    assert result.exit_code == 1
    assert "myspace" in result.output
    assert "not installed" in result.output
