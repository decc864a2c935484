"""The sentiment scorer contract, re-exported from :mod:`resonanz_sdk.scoring` (where plugins get it).

Built-in scorers: :class:`resonanz_scoring.model.TrainedScorer` (the default, a trained linear model)
and :class:`resonanz_scoring.lexicon.LexiconScorer` (the baseline); the service picks one with
:func:`resonanz_scoring.sentiment_loader.load_sentiment_scorer`.
"""

from __future__ import annotations

from resonanz_sdk.scoring import UNKNOWN_LANGUAGE_RESULT, Sentiment, SentimentResult, SentimentScorer

__all__ = ["UNKNOWN_LANGUAGE_RESULT", "Sentiment", "SentimentResult", "SentimentScorer"]
