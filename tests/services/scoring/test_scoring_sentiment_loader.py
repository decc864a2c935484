"""Choosing the service's sentiment scorer by RESONANZ_SENTIMENT_SCORER: built-ins and plugins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import resonanz_scoring.sentiment as service_sentiment
import resonanz_sdk.scoring as sdk_scoring
from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.model import TrainedScorer
from resonanz_scoring.sentiment_loader import load_sentiment_scorer, scorer_manager
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.plugins import hookimpl
from resonanz_sdk.scoring import Sentiment, SentimentResult
from resonanz_sdk.settings import Settings


class Constant:
    """A plugin scorer that calls everything negative (a test plugin, not a model)."""

    name = "constant-negative"

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        return [SentimentResult(Sentiment.NEGATIVE, 1.0, -1.0) for _ in texts]


class ConstantPlugin:
    @hookimpl
    def register_scorers(self, register: Callable[[str, Callable[[], Constant]], None]) -> None:
        register("constant", Constant)


def test_the_contract_types_are_the_sdk_ones() -> None:
    assert service_sentiment.Sentiment is sdk_scoring.Sentiment
    assert service_sentiment.SentimentResult is sdk_scoring.SentimentResult
    assert service_sentiment.SentimentScorer is sdk_scoring.SentimentScorer
    assert service_sentiment.UNKNOWN_LANGUAGE_RESULT is sdk_scoring.UNKNOWN_LANGUAGE_RESULT


def test_the_default_is_the_trained_model() -> None:
    scorer = load_sentiment_scorer(Settings())
    assert isinstance(scorer, TrainedScorer)
    assert scorer.name.startswith("linear-v1-")


def test_the_lexicon_baseline_is_selectable() -> None:
    scorer = load_sentiment_scorer(Settings(sentiment_scorer="lexicon-v1"))
    assert isinstance(scorer, LexiconScorer)


def test_the_environment_variable_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESONANZ_SENTIMENT_SCORER", "lexicon-v1")
    assert isinstance(load_sentiment_scorer(Settings()), LexiconScorer)


def test_an_unknown_name_lists_the_available_scorers() -> None:
    with pytest.raises(
        ConfigurationError, match="'bert' is not a registered scorer; available: lexicon-v1, linear-v1"
    ):
        load_sentiment_scorer(Settings(sentiment_scorer="bert"))


def test_a_plugin_scorer_registered_through_the_manager_is_selectable() -> None:
    settings = Settings(sentiment_scorer="constant")
    manager = scorer_manager(settings, load_entry_points=False)
    manager.register(ConstantPlugin(), name="acme")
    scorer = load_sentiment_scorer(settings, manager)
    assert isinstance(scorer, Constant)
    assert scorer.score_batch(["super"], ["de"])[0].sentiment == Sentiment.NEGATIVE
    assert manager.scorer_names == ["constant", "lexicon-v1", "linear-v1"]
    assert manager.plugin_of("linear-v1") == "resonanz-scoring"


def test_a_missing_model_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the sentiment model"):
        load_sentiment_scorer(Settings(sentiment_model=tmp_path / "missing.npz"))
