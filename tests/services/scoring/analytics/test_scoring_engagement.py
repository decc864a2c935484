"""Engagement per the network's definition, and engagement rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from resonanz.common.v1 import mention_pb2
from resonanz_scoring.analytics.engagement import (
    DEFAULT_DEFINITION,
    EngagementCounts,
    EngagementDefinition,
    definition_for,
    engagement_batch,
    engagement_of,
    engagement_rate,
)
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_sdk.manifest import EngagementWeights, Feature, Manifest, TextRules


def _manifest(weights: EngagementWeights | None = None) -> Manifest:
    base = Manifest(
        network="acme", display_name="Acme", features=frozenset({Feature.SEARCH}), text=TextRules(500)
    )
    if weights is None:
        return base
    return Manifest(
        network=base.network,
        display_name=base.display_name,
        features=base.features,
        text=base.text,
        engagement=weights,
    )


def test_default_is_likes_shares_replies_quotes_without_views() -> None:
    counts = EngagementCounts(likes=30, shares=4, replies=5, quotes=1, views=10_000)
    assert engagement_of(counts) == 40
    assert definition_for(None) == DEFAULT_DEFINITION
    assert definition_for(_manifest()) == DEFAULT_DEFINITION


def test_a_network_states_its_own_definition_in_its_manifest() -> None:
    manifest = _manifest(EngagementWeights(likes=1, shares=2, replies=3, quotes=0, views=0.01))
    definition = definition_for(manifest)
    counts = EngagementCounts(likes=10, shares=5, replies=2, quotes=7, views=1234)
    assert engagement_of(counts, definition) == 10 + 10 + 6 + 0 + 12  # floor(12.34)


def test_protobuf_counts_are_accepted_and_negative_counts_count_zero() -> None:
    counts = mention_pb2.EngagementCounts(likes=-3, shares=2, replies=1, quotes=0, views=9)
    assert engagement_of(counts) == 3


def test_rounding_does_not_lose_a_whole_interaction() -> None:
    definition = EngagementDefinition(likes=0.1, shares=0, replies=0, quotes=0)
    assert engagement_of(EngagementCounts(likes=30), definition) == 3


def test_weights_must_be_finite_and_not_negative() -> None:
    with pytest.raises(InvalidInputError):
        EngagementDefinition(likes=-1)
    with pytest.raises(InvalidInputError):
        EngagementDefinition(views=float("nan"))
    with pytest.raises(ValueError, match="views"):
        EngagementWeights(views=float("inf"))


def test_engagement_rate_denominator_is_followers() -> None:
    assert engagement_rate(40, 2000) == pytest.approx(0.02)
    assert engagement_rate(40, 0) == 0.0
    assert engagement_rate(40, -5) == 0.0


counts_strategy = st.lists(st.integers(min_value=-10, max_value=10**9), min_size=5, max_size=5)
weights_strategy = st.lists(
    st.floats(min_value=0, max_value=10, allow_nan=False, allow_infinity=False), min_size=5, max_size=5
)


@given(st.lists(counts_strategy, min_size=1, max_size=20), weights_strategy)
def test_the_vectorised_batch_equals_one_at_a_time(rows: list[list[int]], weights: list[float]) -> None:
    definition = EngagementDefinition(*weights)
    batch = engagement_batch(np.array(rows, dtype=np.int64), definition.as_vector())
    single = [engagement_of(EngagementCounts(*row), definition) for row in rows]
    assert [int(x) for x in batch] == single


def test_batch_shape_is_checked() -> None:
    with pytest.raises(InvalidInputError):
        engagement_batch(np.zeros((3, 4), dtype=np.int64), DEFAULT_DEFINITION.as_vector())
