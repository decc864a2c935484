"""Estimated reach and impressions, author influence, and all per-mention metrics of a batch at once.

* **estimated reach** -- distinct people who could have seen a post::

      reach = A + sum over resharers i of  f_i x DECAY^h_i x (1 - OVERLAP)

  ``A`` is the author's followers, ``f_i`` a resharer's followers and ``h_i`` its hop (1 = reshared
  the original, 2 = reshared a reshare, ...). ``DECAY`` = :data:`RESHARE_DECAY` = 0.5: a reshare
  reaches its resharer's followers less surely than an original reaches the author's (feeds rank
  reshares lower, readers skip them), and each further hop halves again. ``OVERLAP`` =
  :data:`AUDIENCE_OVERLAP` = 0.2: the people who reshare a post mostly follow its author and each
  other (homophily), so a part of each resharer's audience was reached already and is not counted
  again. Both are modelling assumptions, not measured constants; they are parameters.
  When only the number of reshares is known (a single mention), each reshare or quote is taken as a
  hop-1 resharer with :data:`ASSUMED_RESHARER_FOLLOWERS` = 250 followers (a typical active account;
  the mean follower count is inflated by celebrities and would overstate reach).
* **estimated impressions** -- times the post was shown: the network's view count when it reports
  one (> 0), else ``floor(reach x IMPRESSION_RATE)`` with :data:`IMPRESSION_RATE` = 0.3 (a planning
  assumption: algorithmic feeds show a post to a minority of the potential audience).
* **author influence**, 0..1: ``min(1, log10(1 + F) / log10(1 + 10,000,000))`` with ``F`` the
  followers, times 10 for a verified account (verification counts as one decade of followers):
  1,000 followers -> 0.43, 100,000 -> 0.71, 10 million -> 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from resonanz.common.v1 import mention_pb2

from resonanz_scoring.analytics.engagement import (
    DEFAULT_DEFINITION,
    EngagementDefinition,
    engagement_batch,
)
from resonanz_scoring.analytics.errors import InvalidInputError

RESHARE_DECAY = 0.5
AUDIENCE_OVERLAP = 0.2
ASSUMED_RESHARER_FOLLOWERS = 250
IMPRESSION_RATE = 0.3
INFLUENCE_CEILING = 10_000_000
VERIFIED_FOLLOWER_FACTOR = 10

_LOG_CEILING = math.log10(1 + INFLUENCE_CEILING)


def _check_fraction(name: str, value: float, *, upper_open: bool = False) -> None:
    if not (0.0 <= value <= 1.0) or (upper_open and value >= 1.0):
        raise InvalidInputError(f"{name} must be in [0, 1{')' if upper_open else ']'}, got {value!r}")


def resharer_weight(hop: int, decay: float = RESHARE_DECAY, overlap: float = AUDIENCE_OVERLAP) -> float:
    """Share of a hop-``hop`` resharer's followers counted in reach: ``decay**hop * (1 - overlap)``."""
    if hop < 1:
        raise InvalidInputError(f"a resharer's hop must be >= 1, got {hop}")
    return float(decay**hop * (1.0 - overlap))


def estimate_reach(
    author_followers: int,
    resharer_followers: Sequence[int],
    decay: float = RESHARE_DECAY,
    *,
    hops: Sequence[int] | None = None,
    overlap: float = AUDIENCE_OVERLAP,
) -> int:
    """Author's followers plus the resharers' followers, decayed per hop and discounted for overlap.

    ``hops[i]`` is the hop of resharer ``i`` (all 1 when omitted). Negative follower counts count 0.
    """
    _check_fraction("decay", decay)
    _check_fraction("overlap", overlap)
    if hops is not None and len(hops) != len(resharer_followers):
        raise InvalidInputError("hops must have one entry per resharer")
    total = float(max(author_followers, 0))
    for i, followers in enumerate(resharer_followers):
        hop = 1 if hops is None else hops[i]
        total += max(followers, 0) * resharer_weight(hop, decay, overlap)
    return math.floor(total + 1e-9)


def estimate_impressions(reach: int, views: int = 0, impression_rate: float = IMPRESSION_RATE) -> int:
    """The network's view count when it reports one, else ``floor(reach x impression_rate)``."""
    if views > 0:
        return views
    _check_fraction("impression_rate", impression_rate)
    return math.floor(max(reach, 0) * impression_rate + 1e-9)


def author_influence(followers: int, verified: bool = False) -> float:
    """0..1 on a log scale of followers; a verified account counts ten times its followers."""
    effective = max(followers, 0) * (VERIFIED_FOLLOWER_FACTOR if verified else 1)
    return min(1.0, math.log10(1 + effective) / _LOG_CEILING)


@dataclass(frozen=True, slots=True)
class EngagementInput:
    """What one mention says about itself; the input of :func:`compute_metrics`."""

    followers: int
    likes: int
    shares: int
    replies: int
    quotes: int
    views: int = 0
    verified: bool = False
    #: The network's engagement definition (:func:`~resonanz_scoring.analytics.engagement.definition_for`).
    definition: EngagementDefinition = field(default=DEFAULT_DEFINITION)

    @classmethod
    def from_mention(
        cls, mention: mention_pb2.Mention, definition: EngagementDefinition = DEFAULT_DEFINITION
    ) -> EngagementInput:
        """The input for a ``resonanz.common.v1.Mention`` (author and engagement counts)."""
        counts = mention.engagement
        return cls(
            followers=mention.author.followers,
            likes=counts.likes,
            shares=counts.shares,
            replies=counts.replies,
            quotes=counts.quotes,
            views=counts.views,
            verified=mention.author.verified,
            definition=definition,
        )


#: The name the brief uses; the same class.
MetricsInput = EngagementInput


@dataclass(frozen=True, slots=True)
class MentionMetrics:
    engagement: int
    engagement_rate: float
    estimated_reach: int
    author_influence: float
    estimated_impressions: int = 0


def compute_metrics(
    items: Sequence[EngagementInput],
    *,
    decay: float = RESHARE_DECAY,
    overlap: float = AUDIENCE_OVERLAP,
    resharer_followers: int = ASSUMED_RESHARER_FOLLOWERS,
    impression_rate: float = IMPRESSION_RATE,
) -> list[MentionMetrics]:
    """The metrics of every item, vectorised with numpy; negative counts (bad data) count as 0.

    Reach takes every share and quote as a hop-1 resharer with ``resharer_followers`` followers; the
    definitions are those of :func:`estimate_reach`, :func:`estimate_impressions`,
    :func:`author_influence` and :mod:`~resonanz_scoring.analytics.engagement`.
    """
    if not items:
        return []
    _check_fraction("decay", decay)
    _check_fraction("overlap", overlap)
    _check_fraction("impression_rate", impression_rate)
    counts = np.array(
        [[i.followers, i.likes, i.shares, i.replies, i.quotes, i.views] for i in items], dtype=np.int64
    ).clip(min=0)
    vectors: dict[EngagementDefinition, int] = {}
    index = np.array([vectors.setdefault(i.definition, len(vectors)) for i in items], dtype=np.intp)
    weight_table = np.array([d.as_vector() for d in vectors], dtype=np.float64)
    followers = counts[:, 0]
    engagement = engagement_batch(counts[:, 1:], weight_table[index])
    safe_followers = np.where(followers > 0, followers, 1)
    rate = np.where(followers > 0, engagement / safe_followers, 0.0)
    reshares = counts[:, 2] + counts[:, 4]
    per_reshare = max(resharer_followers, 0) * resharer_weight(1, decay, overlap)
    reach = np.floor(followers + reshares * per_reshare + 1e-9).astype(np.int64)
    views = counts[:, 5]
    impressions = np.where(views > 0, views, np.floor(reach * impression_rate + 1e-9).astype(np.int64))
    verified = np.array([i.verified for i in items], dtype=bool)
    effective = followers * np.where(verified, VERIFIED_FOLLOWER_FACTOR, 1)
    influence = np.minimum(1.0, np.log10(1.0 + effective) / _LOG_CEILING)
    return [
        MentionMetrics(int(e), float(r), int(x), float(f), int(m))
        for e, r, x, f, m in zip(engagement, rate, reach, influence, impressions, strict=True)
    ]
