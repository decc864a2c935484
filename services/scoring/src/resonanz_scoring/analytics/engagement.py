"""Engagement and engagement rate.

* **engagement** = ``floor(sum of weight x count)`` over likes, shares, replies, quotes and views,
  with the weights the network states in its manifest (:class:`resonanz_sdk.manifest.EngagementWeights`).
  The default definition -- every like, share, reply and quote counts 1, views 0 -- is the one
  Brandwatch, Sprout Social and Talkwalker use: views are exposure, not interaction.
* **engagement rate** = engagement / the author's followers (the denominator is followers, "engagement
  rate by followers"); 0 when the author has no followers (or the count is unknown).

The core never names a network: :func:`definition_for` reads the manifest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from resonanz_sdk.manifest import EngagementWeights, Manifest

from resonanz_scoring.analytics.errors import InvalidInputError

#: Order of the count columns in the vectorised functions.
COUNT_FIELDS = ("likes", "shares", "replies", "quotes", "views")


class EngagementCountsLike(Protocol):
    """Anything with the five counts: ``resonanz.common.v1.EngagementCounts`` or :class:`EngagementCounts`."""

    @property
    def likes(self) -> int: ...
    @property
    def shares(self) -> int: ...
    @property
    def replies(self) -> int: ...
    @property
    def quotes(self) -> int: ...
    @property
    def views(self) -> int: ...


@dataclass(frozen=True, slots=True)
class EngagementCounts:
    likes: int = 0
    shares: int = 0
    replies: int = 0
    quotes: int = 0
    views: int = 0


@dataclass(frozen=True, slots=True)
class EngagementDefinition:
    """Weight of each count in the engagement figure; finite and >= 0."""

    likes: float = 1.0
    shares: float = 1.0
    replies: float = 1.0
    quotes: float = 1.0
    views: float = 0.0

    def __post_init__(self) -> None:
        for name in COUNT_FIELDS:
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise InvalidInputError(f"engagement weight {name} must be finite and >= 0, got {value!r}")

    @classmethod
    def from_weights(cls, weights: EngagementWeights) -> EngagementDefinition:
        return cls(weights.likes, weights.shares, weights.replies, weights.quotes, weights.views)

    def as_vector(self) -> npt.NDArray[np.float64]:
        return np.array([self.likes, self.shares, self.replies, self.quotes, self.views], dtype=np.float64)


#: likes + shares + replies + quotes; views excluded.
DEFAULT_DEFINITION = EngagementDefinition()


def definition_for(manifest: Manifest | None) -> EngagementDefinition:
    """The network's definition from its manifest; the default when the network is unknown."""
    if manifest is None:
        return DEFAULT_DEFINITION
    return EngagementDefinition.from_weights(manifest.engagement)


def engagement_of(counts: EngagementCountsLike, definition: EngagementDefinition = DEFAULT_DEFINITION) -> int:
    """Engagement of one post; negative counts (bad data from a network) count as 0."""
    total = (
        definition.likes * max(counts.likes, 0)
        + definition.shares * max(counts.shares, 0)
        + definition.replies * max(counts.replies, 0)
        + definition.quotes * max(counts.quotes, 0)
        + definition.views * max(counts.views, 0)
    )
    # A tiny epsilon keeps 0.1 * 30 = 2.9999999999999996 at 3.
    return math.floor(total + 1e-9)


def engagement_batch(
    counts: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Engagement of many posts at once: ``counts`` is (n, 5) in :data:`COUNT_FIELDS` order, ``weights``
    is (5,) or (n, 5); negative counts count as 0."""
    if counts.ndim != 2 or counts.shape[1] != len(COUNT_FIELDS):
        raise InvalidInputError(f"counts must have shape (n, {len(COUNT_FIELDS)}), got {counts.shape}")
    clipped = counts.clip(min=0).astype(np.float64)
    result: npt.NDArray[np.int64] = np.floor((clipped * weights).sum(axis=1) + 1e-9).astype(np.int64)
    return result


def engagement_rate(engagement: float, followers: int) -> float:
    """``engagement / followers``; 0 when the author has no followers."""
    if followers <= 0:
        return 0.0
    return max(engagement, 0) / followers
