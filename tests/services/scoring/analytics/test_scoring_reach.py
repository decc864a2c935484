"""Estimated reach and impressions, author influence and the vectorised batch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resonanz.common.v1 import mention_pb2
from resonanz_scoring import reach as legacy
from resonanz_scoring.analytics.engagement import EngagementCounts, EngagementDefinition, engagement_of
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_scoring.analytics.reach import (
    ASSUMED_RESHARER_FOLLOWERS,
    AUDIENCE_OVERLAP,
    IMPRESSION_RATE,
    RESHARE_DECAY,
    EngagementInput,
    author_influence,
    compute_metrics,
    estimate_impressions,
    estimate_reach,
)


def test_reach_is_author_plus_decayed_resharers_discounted_for_overlap() -> None:
    assert (RESHARE_DECAY, AUDIENCE_OVERLAP) == (0.5, 0.2)
    assert estimate_reach(1000, []) == 1000
    # Each hop-1 resharer counts 0.5 x 0.8 = 40 % of its followers.
    assert estimate_reach(1000, [500, 250]) == 1000 + 200 + 100
    # A hop-2 resharer counts 0.25 x 0.8 = 20 %.
    assert estimate_reach(1000, [500, 1000], hops=[1, 2]) == 1000 + 200 + 200
    assert estimate_reach(1000, [500], decay=1.0, overlap=0.0) == 1500
    assert estimate_reach(-5, [-7]) == 0


def test_reach_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError):
        estimate_reach(10, [1], decay=1.5)
    with pytest.raises(InvalidInputError):
        estimate_reach(10, [1, 2], hops=[1])
    with pytest.raises(InvalidInputError):
        estimate_reach(10, [1], hops=[0])


def test_impressions_are_views_when_reported_else_reach_times_the_rate() -> None:
    assert estimate_impressions(10_000, views=4321) == 4321
    assert estimate_impressions(10_000) == math.floor(10_000 * IMPRESSION_RATE)
    assert estimate_impressions(10_000, views=0, impression_rate=0.5) == 5000


def test_influence_is_a_log_scale_capped_at_one_and_verified_counts_tenfold() -> None:
    assert author_influence(0) == 0.0
    assert author_influence(1_000) == pytest.approx(0.43, abs=0.01)
    assert author_influence(100_000) == pytest.approx(0.71, abs=0.01)
    assert author_influence(10_000_000) == pytest.approx(1.0)
    assert author_influence(500_000_000) == 1.0
    assert author_influence(1_000, verified=True) == pytest.approx(author_influence(10_000))


def test_batch_of_one_mention() -> None:
    [m] = compute_metrics([EngagementInput(followers=2000, likes=30, shares=4, replies=5, quotes=1)])
    assert m.engagement == 40
    assert m.engagement_rate == pytest.approx(0.02)
    # Shares + quotes as hop-1 resharers of 250 followers: 5 x 250 x 0.5 x 0.8 = 500.
    assert m.estimated_reach == 2000 + 5 * ASSUMED_RESHARER_FOLLOWERS * 0.4
    assert m.estimated_impressions == math.floor(2500 * IMPRESSION_RATE)
    assert compute_metrics([]) == []


def test_input_from_a_protobuf_mention() -> None:
    mention = mention_pb2.Mention(
        id="sim:1",
        author=mention_pb2.Author(followers=2000, verified=True),
        engagement=mention_pb2.EngagementCounts(likes=30, shares=4, replies=5, quotes=1, views=900),
    )
    definition = EngagementDefinition(views=0.1)
    item = EngagementInput.from_mention(mention, definition)
    assert item == EngagementInput(2000, 30, 4, 5, 1, views=900, verified=True, definition=definition)
    [m] = compute_metrics([item])
    assert (m.engagement, m.estimated_impressions) == (130, 900)
    assert m.author_influence == pytest.approx(author_influence(20_000))


def test_the_legacy_module_is_the_same_code() -> None:
    assert legacy.compute_metrics is compute_metrics
    assert legacy.EngagementInput is EngagementInput
    assert legacy.RESHARER_FOLLOWERS == ASSUMED_RESHARER_FOLLOWERS


inputs = st.builds(
    EngagementInput,
    followers=st.integers(-5, 10**9),
    likes=st.integers(-5, 10**7),
    shares=st.integers(-5, 2000),
    replies=st.integers(-5, 10**6),
    quotes=st.integers(-5, 2000),
    views=st.integers(-5, 10**9),
    verified=st.booleans(),
    definition=st.sampled_from(
        [EngagementDefinition(), EngagementDefinition(likes=0.5, views=0.001), EngagementDefinition(quotes=3)]
    ),
)


@settings(deadline=None)
@given(st.lists(inputs, min_size=1, max_size=30))
def test_the_batch_equals_the_scalar_definitions(items: list[EngagementInput]) -> None:
    for item, m in zip(items, compute_metrics(items), strict=True):
        followers = max(item.followers, 0)
        counts = EngagementCounts(item.likes, item.shares, item.replies, item.quotes, item.views)
        assert m.engagement == engagement_of(counts, item.definition)
        assert m.engagement_rate == pytest.approx(m.engagement / followers if followers else 0.0)
        reshares = max(item.shares, 0) + max(item.quotes, 0)
        assert m.estimated_reach == estimate_reach(followers, [ASSUMED_RESHARER_FOLLOWERS] * reshares)
        assert m.estimated_impressions == estimate_impressions(m.estimated_reach, max(item.views, 0))
        assert m.author_influence == pytest.approx(author_influence(item.followers, item.verified))
