"""The brand aggregate formulas: net sentiment, share of voice, the reputation index."""

from __future__ import annotations

import pytest
from resonanz_scoring.aggregates import NEGATIVE_WEIGHT, net_sentiment, reputation_index, share_of_voice


def test_reputation_index_bounds_and_weights() -> None:
    assert reputation_index(500, 0, 0) == 100.0
    assert reputation_index(0, 500, 0) == -100.0
    assert reputation_index(0, 0, 0) == 0.0
    assert reputation_index(0, 0, 10) == 0.0
    # Equal reach positive and negative is net negative: a bad mention weighs twice.
    assert NEGATIVE_WEIGHT == 2.0
    assert reputation_index(100, 100, 0) == pytest.approx(100 * (100 - 200) / 300)
    assert reputation_index(200, 100, 0) == 0.0
    # Neutral mentions dilute towards 0.
    assert 0 < reputation_index(100, 0, 100) == pytest.approx(50.0)


def test_net_sentiment_and_share_of_voice() -> None:
    assert net_sentiment(3, 1, 8) == 0.25
    assert net_sentiment(0, 0, 0) == 0.0
    assert share_of_voice(5, 7) == pytest.approx(5 / 7)
    assert share_of_voice(0, 0) == 0.0
