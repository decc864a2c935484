"""Per-mention engagement and reach metrics, computed for a whole batch at once with numpy.

Definitions (also in the README):

* **engagement** = likes + shares + replies + quotes (views are not engagement).
* **engagement rate** = engagement / author followers; 0 when the author has no followers.
* **estimated reach** = author followers + (shares + quotes) x :data:`RESHARER_FOLLOWERS` x
  :data:`RESHARE_DECAY`, rounded down: every reshare or quote puts the mention in front of the
  resharer's followers, of whom only a part sees it. 250 followers per resharer is a stated
  assumption (a typical active account, far below the mean, which celebrities inflate); the decay
  0.5 says half of them see it. Replies are not counted: they are rarely shown to the replier's
  followers.
* **author influence** = log10(1 + followers) / log10(1 + :data:`INFLUENCE_CEILING`), capped at 1:
  0 followers -> 0, 1,000 -> 0.43, 100,000 -> 0.71, 10 million or more -> 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESHARER_FOLLOWERS = 250
RESHARE_DECAY = 0.5
INFLUENCE_CEILING = 10_000_000


@dataclass(frozen=True)
class EngagementInput:
    followers: int
    likes: int
    shares: int
    replies: int
    quotes: int


@dataclass(frozen=True)
class MentionMetrics:
    engagement: int
    engagement_rate: float
    estimated_reach: int
    author_influence: float


def compute_metrics(items: Sequence[EngagementInput]) -> list[MentionMetrics]:
    """The four metrics of every item, vectorised; negative counts (bad data) count as 0."""
    if not items:
        return []
    counts = np.array(
        [[i.followers, i.likes, i.shares, i.replies, i.quotes] for i in items], dtype=np.int64
    ).clip(min=0)
    followers = counts[:, 0]
    engagement = counts[:, 1:].sum(axis=1)
    safe_followers = np.where(followers > 0, followers, 1)
    rate = np.where(followers > 0, engagement / safe_followers, 0.0)
    reshares = counts[:, 2] + counts[:, 4]
    reach = followers + np.floor(reshares * (RESHARER_FOLLOWERS * RESHARE_DECAY)).astype(np.int64)
    influence = np.minimum(1.0, np.log10(1.0 + followers) / math.log10(1.0 + INFLUENCE_CEILING))
    return [
        MentionMetrics(int(e), float(r), int(x), float(f))
        for e, r, x, f in zip(engagement, rate, reach, influence, strict=True)
    ]
