"""Chooses the sentiment scorer of the service: built-ins and ``resonanz.scorers`` plugins alike.

The built-ins register through the same ``register_scorers`` hook as plugins do (this module is
their plugin object), so ``RESONANZ_SENTIMENT_SCORER`` selects any of them by name:

* ``linear-v1`` (default): :class:`~resonanz_scoring.model.TrainedScorer`, the trained model
  (``RESONANZ_SENTIMENT_MODEL`` may point at another artefact);
* ``lexicon-v1``: :class:`~resonanz_scoring.lexicon.LexiconScorer`, the word-list baseline.

An unknown name is a :class:`~resonanz_sdk.errors.ConfigurationError` that lists the available ones.
The loaded scorer is exported as ``resonanz_sentiment_scorer_info{scorer=<name>, version=<its score
name>} 1`` (e.g. ``scorer="linear-v1", version="linear-v1-3f2a9c1b"``).
"""

from __future__ import annotations

from collections.abc import Callable

from resonanz_sdk import metrics
from resonanz_sdk.plugins import ScorerPluginManager, hookimpl
from resonanz_sdk.plugins.hookspecs import ScorerFactory
from resonanz_sdk.scoring import SentimentScorer
from resonanz_sdk.settings import Settings

from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.model import DEFAULT_MODEL_PATH, TrainedScorer

#: Plugin name under which the built-in scorers are registered.
BUILTIN_PLUGIN = "resonanz-scoring"
TRAINED = "linear-v1"
LEXICON = "lexicon-v1"


class BuiltinScorers:
    """The plugin object of the built-in scorers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _trained(self) -> SentimentScorer:
        return TrainedScorer(path=self._settings.sentiment_model or DEFAULT_MODEL_PATH)

    @hookimpl
    def register_scorers(self, register: Callable[[str, ScorerFactory], None]) -> None:
        register(TRAINED, self._trained)
        register(LEXICON, LexiconScorer)


def scorer_manager(settings: Settings, *, load_entry_points: bool = True) -> ScorerPluginManager:
    """A scorer plugin manager holding the built-ins and (unless told not to) installed plugins."""
    manager = ScorerPluginManager()
    manager.register(BuiltinScorers(settings), name=BUILTIN_PLUGIN)
    if load_entry_points:
        manager.load_entry_points()
    return manager


def load_sentiment_scorer(settings: Settings, manager: ScorerPluginManager | None = None) -> SentimentScorer:
    """Build the scorer ``settings.sentiment_scorer`` names.

    :param manager: Where scorers are registered; default :func:`scorer_manager` (built-ins plus
        every installed ``resonanz.scorers`` plugin). Tests pass one with their own plugins.
    :raises ConfigurationError: no scorer has that name (the message lists those that exist).
    :raises PluginError: the scorer failed to load.
    """
    manager = manager if manager is not None else scorer_manager(settings)
    name = settings.sentiment_scorer.strip()
    scorer = manager.create(name)
    # One active scorer per process: a reload replaces the series, so exactly one reads 1.
    metrics.SENTIMENT_SCORER_INFO.clear()
    metrics.SENTIMENT_SCORER_INFO.labels(scorer=name, version=scorer.name).set(1)
    return scorer
