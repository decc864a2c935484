"""The per-mention metric definitions: engagement, engagement rate, estimated reach, author influence."""

from __future__ import annotations

import math

import pytest
from resonanz_scoring.reach import (
    INFLUENCE_CEILING,
    RESHARE_DECAY,
    RESHARER_FOLLOWERS,
    EngagementInput,
    compute_metrics,
)


def test_definitions() -> None:
    [m] = compute_metrics([EngagementInput(followers=2000, likes=30, shares=4, replies=5, quotes=1)])
    assert m.engagement == 40  # likes + shares + replies + quotes
    assert m.engagement_rate == pytest.approx(40 / 2000)
    assert m.estimated_reach == 2000 + 5 * 125  # (shares + quotes) x 250 followers x 0.5
    assert RESHARER_FOLLOWERS * RESHARE_DECAY == 125
    assert m.author_influence == pytest.approx(math.log10(2001) / math.log10(1 + INFLUENCE_CEILING))


def test_no_followers() -> None:
    [m] = compute_metrics([EngagementInput(followers=0, likes=3, shares=2, replies=0, quotes=0)])
    assert (m.engagement, m.engagement_rate, m.estimated_reach, m.author_influence) == (5, 0.0, 250, 0.0)


def test_influence_is_a_log_scale_capped_at_one() -> None:
    followers = [0, 1_000, 100_000, 10_000_000, 500_000_000]
    result = compute_metrics([EngagementInput(f, 0, 0, 0, 0) for f in followers])
    influence = [m.author_influence for m in result]
    assert influence == sorted(influence)
    assert influence[0] == 0.0
    assert influence[1] == pytest.approx(0.43, abs=0.01)
    assert influence[2] == pytest.approx(0.71, abs=0.01)
    assert influence[3] == pytest.approx(1.0)
    assert influence[4] == 1.0


def test_negative_counts_count_as_zero_and_empty_batch() -> None:
    [m] = compute_metrics([EngagementInput(followers=-5, likes=-1, shares=2, replies=0, quotes=0)])
    assert (m.engagement, m.estimated_reach) == (2, 250)
    assert compute_metrics([]) == []
