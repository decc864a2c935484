"""The scorer plugin manager: registering scorers through the hook, building one, refusing bad plugins."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from resonanz_sdk.errors import ConfigurationError, PluginError
from resonanz_sdk.plugins import SCORER_ENTRY_POINT_GROUP, ScorerPluginManager, hookimpl
from resonanz_sdk.scoring import (
    UNKNOWN_LANGUAGE_RESULT,
    Sentiment,
    SentimentResult,
    SentimentScorer,
)


class ExclamationScorer:
    """A real (if simple) scorer: texts ending in "!" are positive, everything else neutral."""

    name = "exclaim-v1"

    def __init__(self) -> None:
        self.batches = 0

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        self.batches += 1
        return [
            SentimentResult(Sentiment.POSITIVE, 0.9, 0.8) if t.endswith("!") else UNKNOWN_LANGUAGE_RESULT
            for t in texts
        ]


class Provides:
    """A plugin object registering ``(name, factory)`` pairs from its hook."""

    def __init__(self, *entries: tuple[object, object]) -> None:
        self.entries = entries
        self.calls = 0

    @hookimpl
    def register_scorers(self, register: Callable[[object, object], None]) -> None:
        self.calls += 1
        for name, factory in self.entries:
            register(name, factory)


def test_a_registered_scorer_is_built_by_name_and_only_when_asked() -> None:
    built: list[ExclamationScorer] = []

    def factory() -> ExclamationScorer:
        built.append(ExclamationScorer())
        return built[-1]

    manager = ScorerPluginManager()
    plugin = Provides(("exclaim", factory))
    manager.register(plugin, name="acme")
    assert plugin.calls == 1
    assert manager.scorer_names == ["exclaim"]
    assert manager.plugin_of("exclaim") == "acme"
    assert built == []  # nothing loaded until selected
    scorer = manager.create("exclaim")
    assert isinstance(scorer, SentimentScorer)
    assert [r.sentiment for r in scorer.score_batch(["yes!", "no"], ["en", "en"])] == [
        Sentiment.POSITIVE,
        Sentiment.NEUTRAL,
    ]
    assert len(built) == 1


def test_an_unknown_scorer_name_lists_the_available_ones() -> None:
    manager = ScorerPluginManager()
    manager.register(Provides(("b-scorer", ExclamationScorer), ("a-scorer", ExclamationScorer)), name="p")
    with pytest.raises(
        ConfigurationError, match=r"'nope' is not a registered scorer; available: a-scorer, b-scorer"
    ):
        manager.create("nope")
    with pytest.raises(ConfigurationError, match="available: none"):
        ScorerPluginManager().create("anything")


def test_a_duplicate_scorer_name_names_both_plugins_and_leaves_nothing_behind() -> None:
    manager = ScorerPluginManager()
    manager.register(Provides(("shared", ExclamationScorer)), name="first")
    with pytest.raises(PluginError, match=r"plugin 'second'.*already registered by plugin 'first'"):
        manager.register(Provides(("extra", ExclamationScorer), ("shared", ExclamationScorer)), name="second")
    assert manager.scorer_names == ["shared"]
    assert manager.plugin_names() == ["first"]


@pytest.mark.parametrize("bad_name", ["", "Upper", "has space", 42, "-leading"])
def test_invalid_scorer_names_are_refused(bad_name: object) -> None:
    with pytest.raises(PluginError, match="invalid"):
        ScorerPluginManager().register(Provides((bad_name, ExclamationScorer)), name="p")


def test_a_factory_that_is_not_callable_is_refused() -> None:
    with pytest.raises(PluginError, match="not callable"):
        ScorerPluginManager().register(Provides(("x", ExclamationScorer())), name="p")


def test_a_factory_building_something_else_or_failing_blames_its_plugin() -> None:
    def broken() -> ExclamationScorer:
        raise RuntimeError("CUDA out of memory")

    manager = ScorerPluginManager()
    manager.register(Provides(("notascorer", object), ("broken", broken)), name="acme")
    with pytest.raises(PluginError, match=r"plugin 'acme'.*not a SentimentScorer"):
        manager.create("notascorer")
    with pytest.raises(PluginError, match=r"plugin 'acme'.*'broken' failed to load: CUDA out of memory"):
        manager.create("broken")


def test_a_configuration_error_from_a_factory_passes_through() -> None:
    def missing_model() -> ExclamationScorer:
        raise ConfigurationError("model file /nope missing")

    manager = ScorerPluginManager()
    manager.register(Provides(("m", missing_model)), name="acme")
    with pytest.raises(ConfigurationError, match="/nope"):
        manager.create("m")


def test_a_hook_that_raises_is_a_plugin_error_and_registers_nothing() -> None:
    class Exploding:
        @hookimpl
        def register_scorers(self, register: Callable[[object, object], None]) -> None:
            register("early", ExclamationScorer)
            raise KeyError("boom")

    manager = ScorerPluginManager()
    with pytest.raises(PluginError, match="register_scorers failed"):
        manager.register(Exploding(), name="exploding")
    assert manager.scorer_names == []
    assert manager.plugin_names() == []


def test_a_hook_the_specification_does_not_know_is_refused() -> None:
    class Widgets:
        @hookimpl
        def register_widgets(self, register: Callable[[object], None]) -> None:
            raise AssertionError("never called")

    with pytest.raises(PluginError, match="widgets"):
        ScorerPluginManager().register(Widgets(), name="widgets")


def test_entry_points_of_the_scorer_group_load_without_error() -> None:
    assert SCORER_ENTRY_POINT_GROUP == "resonanz.scorers"
    manager = ScorerPluginManager()
    manager.load_entry_points()  # no scorer plugin is installed in this workspace: nothing, no error
    assert manager.scorer_names == []
