"""The plugin system: hook specifications, the hook marker for plugins, and the plugin manager."""

from __future__ import annotations

from resonanz_sdk.plugins.hookspecs import hookimpl, hookspec
from resonanz_sdk.plugins.manager import ENTRY_POINT_GROUP, PluginManager
from resonanz_sdk.plugins.scorers import SCORER_ENTRY_POINT_GROUP, ScorerPluginManager

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCORER_ENTRY_POINT_GROUP",
    "PluginManager",
    "ScorerPluginManager",
    "hookimpl",
    "hookspec",
]
