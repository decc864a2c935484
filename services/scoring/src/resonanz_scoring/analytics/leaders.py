"""Opinion leaders: PageRank over the interaction graph, and the combined author rank.

**Interaction graph.** An edge ``source -> target`` says the source author amplified or addressed the
target (reshared, quoted, replied to or mentioned them), with a weight (e.g. how often). Self-loops
are dropped (threads replying to oneself are not endorsement); parallel edges add up.

**PageRank** (Brin and Page 1998, "The Anatomy of a Large-Scale Hypertextual Web Search Engine"):
``r = (1 - d)/N + d (M r + D/N)`` with damping ``d`` = 0.85, ``M`` the out-weight-normalised
transition matrix and ``D`` the rank held by dangling nodes (no out-edges), spread evenly over all
nodes. Solved by sparse power iteration until the L1 change is below ``tol``; the result sums to 1.

**Combined score**, 0..1, of each author with activity in the window::

    score = 0.30 F + 0.40 E + 0.30 C
    F = log(1 + followers) / max over authors of log(1 + followers)
    E = log(1 + engagement earned) / max over authors of log(1 + engagement earned)
    C = PageRank / max over authors of PageRank

Logs because followers and engagement are heavy-tailed (one celebrity would otherwise flatten
everyone else to 0); normalising by the maximum puts the three on the same 0..1 scale. Engagement
weighs most: it is what the author's posts about the label actually earned in the window, where
followers are only potential. A term that is 0 for every author contributes 0; without any
interactions every author has the same PageRank, so C = 1 for all and only F and E decide the order.

Rank 1 is the top; ties are broken by engagement earned, then followers, then author id
(ascending), so the order is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from resonanz_scoring.analytics.errors import InvalidInputError

DAMPING = 0.85
TOLERANCE = 1e-10
MAX_ITERATIONS = 200


@dataclass(frozen=True, slots=True)
class RankWeights:
    followers: float = 0.30
    engagement: float = 0.40
    centrality: float = 0.30

    def __post_init__(self) -> None:
        values = (self.followers, self.engagement, self.centrality)
        if any(not (v >= 0 and math.isfinite(v)) for v in values) or sum(values) <= 0:
            raise InvalidInputError("rank weights must be finite, >= 0 and not all 0")


DEFAULT_WEIGHTS = RankWeights()


@dataclass(frozen=True, slots=True)
class AuthorActivity:
    """What one author did about a label in a window."""

    author_id: str
    handle: str
    followers: int
    verified: bool
    mentions: int
    engagement_earned: int
    positive: int
    negative: int
    network: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Interaction:
    """``source_author`` reshared, quoted, replied to or mentioned ``target_author``."""

    source_author: str
    target_author: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class RankedAuthor:
    rank: int
    author_id: str
    handle: str
    network: str
    display_name: str
    followers: int
    verified: bool
    mentions: int
    engagement_earned: int
    positive: int
    negative: int
    #: PageRank in the interaction graph (all ranks of the graph sum to 1).
    centrality: float
    #: The combined score, 0..1.
    score: float

    @property
    def net_sentiment(self) -> float:
        """(positive - negative) / mentions of this author; 0 without mentions."""
        return (self.positive - self.negative) / self.mentions if self.mentions else 0.0


def pagerank(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str, float]],
    damping: float = DAMPING,
    tol: float = TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
) -> dict[str, float]:
    """PageRank of every node (nodes only named by an edge are added); sums to 1, empty for no nodes.

    ``edges`` are ``(source, target, weight)`` with weight >= 0; self-loops are ignored.
    """
    if not 0.0 <= damping < 1.0:
        raise InvalidInputError(f"damping must be in [0, 1), got {damping!r}")
    if tol <= 0 or max_iter < 1:
        raise InvalidInputError("tol must be > 0 and max_iter >= 1")
    index: dict[str, int] = {}
    for node in nodes:
        index.setdefault(node, len(index))
    sources: list[int] = []
    targets: list[int] = []
    weights: list[float] = []
    for source, target, weight in edges:
        if not (weight >= 0 and math.isfinite(weight)):
            raise InvalidInputError(f"edge weight must be finite and >= 0, got {weight!r}")
        s = index.setdefault(source, len(index))
        t = index.setdefault(target, len(index))
        if s != t and weight > 0:
            sources.append(s)
            targets.append(t)
            weights.append(weight)
    n = len(index)
    if n == 0:
        return {}
    src = np.array(sources, dtype=np.intp)
    dst = np.array(targets, dtype=np.intp)
    w = np.array(weights, dtype=np.float64)
    out_weight = np.bincount(src, weights=w, minlength=n)
    dangling = out_weight == 0
    share = w / out_weight[src] if len(w) else w
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        spread = np.bincount(dst, weights=rank[src] * share, minlength=n)
        new = (1.0 - damping) / n + damping * (spread + rank[dangling].sum() / n)
        new /= new.sum()
        change = float(np.abs(new - rank).sum())
        rank = new
        if change < tol:
            break
    return {node: float(rank[i]) for node, i in index.items()}


def _merge(activities: Iterable[AuthorActivity]) -> dict[str, AuthorActivity]:
    """One activity per author id: counts add up, followers take the largest, verified if any."""
    merged: dict[str, AuthorActivity] = {}
    for a in activities:
        if min(a.mentions, a.engagement_earned, a.positive, a.negative) < 0:
            raise InvalidInputError(f"author {a.author_id!r} has a negative count")
        old = merged.get(a.author_id)
        if old is None:
            merged[a.author_id] = a
            continue
        merged[a.author_id] = AuthorActivity(
            author_id=a.author_id,
            handle=old.handle or a.handle,
            followers=max(old.followers, a.followers),
            verified=old.verified or a.verified,
            mentions=old.mentions + a.mentions,
            engagement_earned=old.engagement_earned + a.engagement_earned,
            positive=old.positive + a.positive,
            negative=old.negative + a.negative,
            network=old.network or a.network,
            display_name=old.display_name or a.display_name,
        )
    return merged


def _normalised_log(values: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    logs = np.log1p(np.maximum(values, 0).astype(np.float64))
    top = logs.max() if len(logs) else 0.0
    return logs / top if top > 0 else np.zeros_like(logs)


def rank_authors(
    activities: Sequence[AuthorActivity],
    interactions: Iterable[Interaction] = (),
    weights: RankWeights = DEFAULT_WEIGHTS,
    *,
    damping: float = DAMPING,
) -> list[RankedAuthor]:
    """Every author of ``activities`` ranked by the combined score (module docstring), rank 1 first.

    Authors that appear only in ``interactions`` take part in PageRank but are not ranked.
    """
    merged = _merge(activities)
    if not merged:
        return []
    ids = list(merged)
    centrality = pagerank(
        ids,
        ((i.source_author, i.target_author, i.weight) for i in interactions),
        damping=damping,
    )
    followers = np.array([merged[a].followers for a in ids], dtype=np.int64)
    engagement = np.array([merged[a].engagement_earned for a in ids], dtype=np.int64)
    pr = np.array([centrality[a] for a in ids], dtype=np.float64)
    pr_top = pr.max()
    scores = (
        weights.followers * _normalised_log(followers)
        + weights.engagement * _normalised_log(engagement)
        + weights.centrality * (pr / pr_top if pr_top > 0 else np.zeros_like(pr))
    ) / (weights.followers + weights.engagement + weights.centrality)
    order = sorted(
        range(len(ids)),
        key=lambda i: (-float(scores[i]), -int(engagement[i]), -int(followers[i]), ids[i]),
    )
    ranked: list[RankedAuthor] = []
    for rank, i in enumerate(order, start=1):
        a = merged[ids[i]]
        ranked.append(
            RankedAuthor(
                rank=rank,
                author_id=a.author_id,
                handle=a.handle,
                network=a.network,
                display_name=a.display_name,
                followers=a.followers,
                verified=a.verified,
                mentions=a.mentions,
                engagement_earned=a.engagement_earned,
                positive=a.positive,
                negative=a.negative,
                centrality=float(pr[i]),
                score=float(scores[i]),
            )
        )
    return ranked
