"""The scorer plugin manager: sentiment scorers registered through the ``resonanz.scorers`` group.

Separate from the network :class:`~resonanz_sdk.plugins.manager.PluginManager` (its own entry-point
group and pluggy manager), so installing a scorer never changes which networks load and the other way
round. Built-in scorers register through :meth:`ScorerPluginManager.register` exactly like plugins.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable
from types import ModuleType

import pluggy

from resonanz_sdk.errors import ConfigurationError, PluginError, ResonanzError
from resonanz_sdk.plugins import hookspecs
from resonanz_sdk.plugins.hookspecs import ScorerFactory
from resonanz_sdk.scoring import SentimentScorer

SCORER_ENTRY_POINT_GROUP = "resonanz.scorers"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

log = logging.getLogger(__name__)


class ScorerPluginManager:
    """Loads scorer plugins and builds the selected scorer.

    :param allowed: Plugin (entry point) names to load; ``None`` loads every installed scorer plugin.
    """

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._allowed = None if allowed is None else frozenset(a.strip() for a in allowed if a.strip())
        self._factories: dict[str, ScorerFactory] = {}
        self._owner: dict[str, str] = {}

    def load_entry_points(self) -> None:
        """Load every allowed plugin of the ``resonanz.scorers`` entry-point group."""
        for ep in importlib.metadata.entry_points(group=SCORER_ENTRY_POINT_GROUP):
            if self._allowed is not None and ep.name not in self._allowed:
                continue
            if self._pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(ep.name, f"failed to import {ep.value}: {exc}") from exc
            self.register(plugin, name=ep.name)

    def register(self, plugin: ModuleType | object, *, name: str) -> None:
        """Register a plugin object (built-ins and tests use this directly) and collect its scorers."""
        self._pm.register(plugin, name=name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._pm.unregister(plugin)
            raise PluginError(name, str(exc)) from exc
        added: list[str] = []
        try:
            for impl in self._pm.hook.register_scorers.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(
                        register=lambda scorer, factory: added.append(self._add(name, scorer, factory))
                    )
        except Exception as exc:
            for key in added:
                del self._factories[key], self._owner[key]
            self._pm.unregister(plugin)
            if isinstance(exc, PluginError):
                raise
            raise PluginError(name, f"register_scorers failed: {exc}") from exc
        if added:
            log.info("scorer plugin %s registered %s", name, ", ".join(added))

    def _add(self, plugin: str, scorer: object, factory: object) -> str:
        if not isinstance(scorer, str) or not _NAME.match(scorer):
            raise PluginError(
                plugin,
                f"scorer name {scorer!r} is invalid (1-64 of a-z 0-9 . _ -, starting with a letter or digit)",
            )
        if not callable(factory):
            raise PluginError(plugin, f"scorer {scorer!r}: the factory {factory!r} is not callable")
        if scorer in self._factories:
            raise PluginError(
                plugin, f"scorer {scorer!r} is already registered by plugin {self._owner[scorer]!r}"
            )
        self._factories[scorer] = factory
        self._owner[scorer] = plugin
        return scorer

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self._pm.list_name_plugin())

    @property
    def scorer_names(self) -> list[str]:
        return sorted(self._factories)

    def plugin_of(self, scorer: str) -> str:
        return self._owner[scorer]

    def create(self, scorer: str) -> SentimentScorer:
        """Build the scorer registered as ``scorer``.

        :raises ConfigurationError: no plugin registered that name (the message lists those that are).
        :raises PluginError: the factory failed or built something that is not a scorer (a
            :class:`~resonanz_sdk.errors.ResonanzError` the factory raises passes through as it is).
        """
        factory = self._factories.get(scorer)
        if factory is None:
            available = ", ".join(self.scorer_names) or "none"
            raise ConfigurationError(
                f"RESONANZ_SENTIMENT_SCORER={scorer!r} is not a registered scorer; available: {available}"
            )
        owner = self._owner[scorer]
        try:
            built = factory()
        except ResonanzError:
            raise  # already says what is wrong (a missing model file is a ConfigurationError)
        except Exception as exc:
            raise PluginError(owner, f"scorer {scorer!r} failed to load: {exc}") from exc
        if not isinstance(built, SentimentScorer):
            raise PluginError(
                owner, f"scorer {scorer!r} built {type(built).__name__}, which is not a SentimentScorer"
            )
        return built
