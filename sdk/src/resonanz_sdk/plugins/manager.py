"""The plugin manager: a typed facade over pluggy, in the style of tox and llm.

Core code never calls ``pm.hook.x(...)`` untyped; it asks this class for networks by name.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from types import ModuleType

import pluggy

from resonanz_sdk.errors import NotFoundError, PluginError
from resonanz_sdk.network import Network
from resonanz_sdk.plugins import hookspecs

ENTRY_POINT_GROUP = "resonanz.networks"

log = logging.getLogger(__name__)


class PluginManager:
    """Loads network plugins and holds the networks they registered.

    :param allowed: Plugin (entry point) names to load; ``None`` loads every installed plugin and an
        empty collection loads none. ``RESONANZ_PLUGINS`` feeds this in services.
    """

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._allowed = None if allowed is None else frozenset(a.strip() for a in allowed if a.strip())
        self._networks: dict[str, Network] = {}
        self._owner: dict[str, str] = {}

    @classmethod
    def from_setting(cls, plugins: str | None) -> PluginManager:
        """Build from the ``RESONANZ_PLUGINS`` value: unset = all, "" = none, "a,b" = those."""
        return cls(None if plugins is None else plugins.split(","))

    def load_entry_points(self) -> None:
        """Load every allowed plugin from the ``resonanz.networks`` entry-point group."""
        found: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            found.add(ep.name)
            if self._allowed is not None and ep.name not in self._allowed:
                continue
            if self._pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(ep.name, f"failed to import {ep.value}: {exc}") from exc
            self.register(plugin, name=ep.name)
        if self._allowed is not None:
            missing = self._allowed - found - set(self.plugin_names())
            if missing:
                raise PluginError(
                    ", ".join(sorted(missing)), "is listed in RESONANZ_PLUGINS but not installed"
                )

    def register(self, plugin: ModuleType | object, *, name: str) -> None:
        """Register a plugin object directly (built-ins and tests) and collect its networks."""
        self._pm.register(plugin, name=name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._pm.unregister(plugin)
            raise PluginError(name, str(exc)) from exc
        # Call only this plugin's implementation, so what it registers is attributed to it; a plugin
        # whose hook fails leaves nothing behind.
        added: list[str] = []
        try:
            for impl in self._pm.hook.register_networks.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(register=lambda network: added.append(self._add(name, network)))
        except Exception as exc:
            for key in added:
                del self._networks[key], self._owner[key]
            self._pm.unregister(plugin)
            if isinstance(exc, PluginError):
                raise
            raise PluginError(name, f"register_networks failed: {exc}") from exc
        log.info("loaded network plugin %s", name)

    def _add(self, plugin: str, network: object) -> str:
        if not isinstance(network, Network):
            raise PluginError(plugin, f"registered {type(network).__name__}, which is not a Network")
        key = network.manifest.network
        if key in self._networks:
            raise PluginError(plugin, f"network {key!r} is already registered by plugin {self._owner[key]!r}")
        self._networks[key] = network
        self._owner[key] = plugin
        return key

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self._pm.list_name_plugin())

    @property
    def networks(self) -> Mapping[str, Network]:
        return dict(self._networks)

    def network(self, name: str) -> Network:
        try:
            return self._networks[name]
        except KeyError:
            raise NotFoundError(f"no network plugin provides {name!r}") from None

    def plugin_of(self, network: str) -> str:
        return self._owner[network]

    async def aclose(self) -> None:
        for network in self._networks.values():
            await network.aclose()
