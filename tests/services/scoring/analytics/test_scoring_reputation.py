"""Reputation index and net sentiment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_scoring.analytics.reputation import mention_weight, net_sentiment, reputation_index


def test_known_values() -> None:
    assert reputation_index(100, 0, 0) == 100.0
    assert reputation_index(0, 0, 100) == -100.0
    assert reputation_index(0, 0, 0) == 0.0
    assert reputation_index(0, 50, 0) == 0.0
    # Equal positive and negative reach: negative weighs double, 100 (100 - 200) / 300.
    assert reputation_index(100, 0, 100) == pytest.approx(-100 / 3)
    # Twice the positive reach balances it out.
    assert reputation_index(200, 0, 100) == 0.0
    # Neutral reach dilutes towards 0: 100 (300 - 100) / (300 + 100 + 200).
    assert reputation_index(300, 200, 50) == pytest.approx(100 * 200 / 600)
    assert reputation_index(100, 0, 100, negative_weight=1.0) == 0.0


def test_a_mention_nobody_could_see_still_counts_once() -> None:
    assert mention_weight(0) == 1
    assert mention_weight(5000) == 5000


def test_negative_or_non_finite_input_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        reputation_index(-1, 0, 0)
    with pytest.raises(InvalidInputError):
        reputation_index(1, float("nan"), 0)
    with pytest.raises(InvalidInputError):
        net_sentiment(1, 1, 1)


def test_net_sentiment() -> None:
    assert net_sentiment(6, 2, 10) == pytest.approx(0.4)
    assert net_sentiment(0, 0, 0) == 0.0


reach = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(reach, reach, reach, st.floats(min_value=0, max_value=20))
def test_the_index_stays_within_bounds(
    positive: float, neutral: float, negative: float, weight: float
) -> None:
    r = reputation_index(positive, neutral, negative, weight)
    assert -100.0 <= r <= 100.0


@given(reach, reach, st.floats(min_value=1, max_value=1e12))
def test_more_negative_reach_never_raises_the_index(positive: float, neutral: float, negative: float) -> None:
    assert reputation_index(positive, neutral, negative) <= reputation_index(positive, neutral, 0.0) + 1e-9
