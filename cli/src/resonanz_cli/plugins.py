"""``resonanz plugins``: the network plugins installed on this machine (local, no service needed)."""

from __future__ import annotations

import asyncio

import typer
from resonanz_sdk.plugins import PluginManager

from resonanz_cli import render
from resonanz_cli.client import load_settings
from resonanz_cli.errors import handled

app = typer.Typer(help="Inspect the installed network plugins.", no_args_is_help=True)


@app.command("list")
def list_plugins() -> None:
    """List installed network plugins and their manifests (features, text and media rules, rate limits).

    Honours RESONANZ_PLUGINS, like the services do.

    Example:

      resonanz plugins list
    """
    manager = PluginManager.from_setting(load_settings().plugins)
    console = render.stdout()
    try:
        with handled("plugins", "local"):
            manager.load_entry_points()
        networks = manager.networks
        if not networks:
            console.print("no network plugins installed (entry-point group resonanz.networks)")
            return
        for name in sorted(networks):
            console.print(render.manifest_panel(manager.plugin_of(name), networks[name].manifest))
    finally:
        asyncio.run(manager.aclose())
