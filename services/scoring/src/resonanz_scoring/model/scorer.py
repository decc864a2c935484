""":class:`TrainedScorer`: the trained linear model behind the ``SentimentScorer`` protocol.

The artefact shipped in this package (:data:`DEFAULT_MODEL_PATH`) is read once per process, on first
use (about 0.2 s), and shared by every scorer instance. A batch is split by language; each language
with a model is scored in one vectorised pass, every other language gets the neutral
:data:`~resonanz_sdk.scoring.UNKNOWN_LANGUAGE_RESULT`.

Output per text: the most probable class, its probability as ``confidence``, and
``polarity = P(positive) - P(negative)`` in -1..1.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from resonanz_sdk.scoring import UNKNOWN_LANGUAGE_RESULT, Sentiment, SentimentResult

from resonanz_scoring.model.linear import CLASSES, SentimentModel, load_model

#: The artefact trained by ``make train-sentiment`` and shipped inside the wheel.
DEFAULT_MODEL_PATH = Path(__file__).with_name("sentiment-v1.npz")

_SENTIMENTS = tuple(Sentiment[label.upper()] for label in CLASSES)
_cache_lock = threading.Lock()
_cache: dict[Path, SentimentModel] = {}


def shared_model(path: Path = DEFAULT_MODEL_PATH) -> SentimentModel:
    """The model at ``path``, loaded once per process."""
    key = path.resolve()
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = load_model(key)
            _cache[key] = model
        return model


class TrainedScorer:
    """Sentiment from the trained model; its ``name`` is ``linear-v1-<8 hex digits of the model>``."""

    def __init__(self, model: SentimentModel | None = None, *, path: Path = DEFAULT_MODEL_PATH) -> None:
        self._model = model if model is not None else shared_model(path)
        self.name = f"linear-v1-{self._model.version}"
        self.languages = frozenset(self._model.languages)

    @property
    def model(self) -> SentimentModel:
        return self._model

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        if len(texts) != len(languages):
            raise ValueError("texts and languages must have the same length")
        results: list[SentimentResult] = [UNKNOWN_LANGUAGE_RESULT] * len(texts)
        by_language: dict[str, list[int]] = {}
        for i, language in enumerate(languages):
            if language in self._model.languages:
                by_language.setdefault(language, []).append(i)
        for language, positions in by_language.items():
            probabilities = self._model.languages[language].probabilities([texts[i] for i in positions])
            best = probabilities.argmax(axis=1)
            polarity = (
                probabilities[:, CLASSES.index("positive")] - probabilities[:, CLASSES.index("negative")]
            )
            confidence = probabilities[np.arange(len(positions)), best]
            for row, i in enumerate(positions):
                results[i] = SentimentResult(
                    _SENTIMENTS[int(best[row])], float(confidence[row]), float(polarity[row])
                )
        return results
