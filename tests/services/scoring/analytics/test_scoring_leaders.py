"""PageRank against an exact linear solve, and the opinion-leader ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_scoring.analytics.leaders import (
    AuthorActivity,
    Interaction,
    RankWeights,
    pagerank,
    rank_authors,
)


def exact_pagerank(
    nodes: list[str], edges: list[tuple[str, str, float]], damping: float = 0.85
) -> dict[str, float]:
    """Solves r = (1 - d)/n + d (M r + dangling mass / n) directly (dense, independent of the code)."""
    n = len(nodes)
    index = {node: i for i, node in enumerate(nodes)}
    weights = np.zeros((n, n))
    for source, target, weight in edges:
        if source != target:
            weights[index[target], index[source]] += weight
    out = weights.sum(axis=0)
    transition = np.where(out > 0, weights / np.where(out > 0, out, 1), 1.0 / n)  # dangling: uniform
    system = np.eye(n) - damping * transition
    rank = np.linalg.solve(system, np.full(n, (1 - damping) / n))
    return {node: float(rank[i] / rank.sum()) for node, i in index.items()}


def test_a_cycle_is_uniform_and_a_sink_collects_rank() -> None:
    cycle = pagerank(["a", "b", "c"], [("a", "b", 1), ("b", "c", 1), ("c", "a", 1)])
    assert cycle == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    star = pagerank([], [("a", "hub", 1), ("b", "hub", 1), ("c", "hub", 1)])
    assert max(star, key=star.__getitem__) == "hub"
    assert star == pytest.approx(exact_pagerank(["a", "hub", "b", "c"], [(s, "hub", 1) for s in "abc"]))


def test_edge_cases() -> None:
    assert pagerank([], []) == {}
    assert pagerank(["solo"], []) == {"solo": pytest.approx(1.0)}
    # Self-loops are ignored, parallel edges add up, zero-weight edges are no edges.
    a = pagerank(["a", "b"], [("a", "a", 5), ("a", "b", 1), ("a", "b", 1), ("b", "a", 0)])
    b = pagerank(["a", "b"], [("a", "b", 2)])
    assert a == pytest.approx(b)
    with pytest.raises(InvalidInputError):
        pagerank(["a"], [("a", "b", -1)])
    with pytest.raises(InvalidInputError):
        pagerank(["a"], [], damping=1.0)


graphs = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.tuples(
        st.just([f"n{i}" for i in range(n)]),
        st.lists(
            st.tuples(
                st.integers(0, n - 1).map(lambda i: f"n{i}"),
                st.integers(0, n - 1).map(lambda i: f"n{i}"),
                st.floats(min_value=0.1, max_value=10),
            ),
            max_size=40,
        ),
    )
)


@settings(deadline=None)
@given(graphs, st.floats(min_value=0.0, max_value=0.95))
def test_pagerank_sums_to_one_and_matches_the_exact_solution(
    graph: tuple[list[str], list[tuple[str, str, float]]], damping: float
) -> None:
    nodes, edges = graph
    rank = pagerank(nodes, edges, damping=damping)
    assert set(rank) == set(nodes)
    assert math.fsum(rank.values()) == pytest.approx(1.0)
    assert all(value > 0 for value in rank.values())
    assert rank == pytest.approx(exact_pagerank(nodes, edges, damping), abs=1e-7)


def activity(author_id: str, followers: int, engagement: int, **extra: int) -> AuthorActivity:
    return AuthorActivity(
        author_id=author_id,
        handle=f"@{author_id}",
        followers=followers,
        verified=False,
        mentions=extra.get("mentions", 1),
        engagement_earned=engagement,
        positive=extra.get("positive", 0),
        negative=extra.get("negative", 0),
    )


def test_combined_score_by_its_stated_formula() -> None:
    activities = [activity("big", 1_000_000, 10), activity("loud", 1_000, 5_000), activity("hub", 100, 100)]
    interactions = [Interaction("big", "hub"), Interaction("loud", "hub"), Interaction("hub", "loud", 0.5)]
    ranked = rank_authors(activities, interactions)
    rank = pagerank(
        ["big", "loud", "hub"], [(i.source_author, i.target_author, i.weight) for i in interactions]
    )
    top_pr = max(rank.values())
    for r in ranked:
        a = next(x for x in activities if x.author_id == r.author_id)
        expected = (
            0.3 * math.log1p(a.followers) / math.log1p(1_000_000)
            + 0.4 * math.log1p(a.engagement_earned) / math.log1p(5_000)
            + 0.3 * rank[a.author_id] / top_pr
        )
        assert r.score == pytest.approx(expected)
        assert r.centrality == pytest.approx(rank[a.author_id])
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_ties_are_broken_deterministically() -> None:
    same = [activity(name, 500, 50) for name in ("carol", "alice", "bob")]
    assert [r.author_id for r in rank_authors(same)] == ["alice", "bob", "carol"]
    # Equal scores under weights that ignore engagement: more engagement still wins the tie.
    weights = RankWeights(followers=1.0, engagement=0.0, centrality=0.0)
    tie = [activity("x", 500, 1), activity("y", 500, 9)]
    assert [r.author_id for r in rank_authors(tie, weights=weights)] == ["y", "x"]


def test_duplicate_authors_are_merged_and_interaction_only_authors_not_ranked() -> None:
    ranked = rank_authors(
        [activity("a", 10, 5, positive=1, mentions=2), activity("a", 20, 7, negative=1, mentions=2)],
        [Interaction("outsider", "a")],
    )
    [a] = ranked
    assert (a.followers, a.engagement_earned, a.mentions, a.positive, a.negative) == (20, 12, 4, 1, 1)
    assert a.net_sentiment == 0.0
    assert rank_authors([]) == []


def test_nobody_with_followers_or_engagement_still_ranks() -> None:
    ranked = rank_authors([activity("a", 0, 0), activity("b", 0, 0)], [Interaction("a", "b")])
    assert [r.author_id for r in ranked] == ["b", "a"]
    assert ranked[0].score == pytest.approx(0.3)
