"""Kept for existing imports: the per-mention metrics live in :mod:`resonanz_scoring.analytics.reach`."""

from __future__ import annotations

from resonanz_scoring.analytics.reach import (
    ASSUMED_RESHARER_FOLLOWERS,
    AUDIENCE_OVERLAP,
    IMPRESSION_RATE,
    INFLUENCE_CEILING,
    RESHARE_DECAY,
    EngagementInput,
    MentionMetrics,
    MetricsInput,
    author_influence,
    compute_metrics,
    estimate_impressions,
    estimate_reach,
)

#: The old name of :data:`ASSUMED_RESHARER_FOLLOWERS`.
RESHARER_FOLLOWERS = ASSUMED_RESHARER_FOLLOWERS

__all__ = [
    "ASSUMED_RESHARER_FOLLOWERS",
    "AUDIENCE_OVERLAP",
    "IMPRESSION_RATE",
    "INFLUENCE_CEILING",
    "RESHARER_FOLLOWERS",
    "RESHARE_DECAY",
    "EngagementInput",
    "MentionMetrics",
    "MetricsInput",
    "author_influence",
    "compute_metrics",
    "estimate_impressions",
    "estimate_reach",
]
