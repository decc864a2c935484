"""Brand aggregates and their formulas (the SQL that feeds them is in :mod:`resonanz_scoring.queries`).

* **net sentiment** = (positive - negative) / mentions, -1..1 (0 without mentions).
* **share of voice** = this label's mentions / the mentions of every label of the tenant in the
  same window (a mention matching two labels counts once for each), 0..1.
* **reputation index**, -100..+100, reach-weighted, negative weighted double::

      w(m) = max(estimated_reach(m), 1)
      R = 100 * (P - 2 N) / (P + 2 N + U)

  where P, N, U are the sums of w over positive, negative and neutral mentions. Negative mentions
  weigh :data:`NEGATIVE_WEIGHT` = 2 times positive ones, after word-of-mouth research (TARP for the
  White House Office of Consumer Affairs; Goodman 1999): a dissatisfied customer tells 8-12 people, a
  satisfied one 4-5. Neutral mentions dilute the index towards 0. Only positive mentions: +100; only
  negative: -100; no mentions: 0.
* **mention count delta** = (mentions - previous mentions) / previous mentions, where the previous
  window is the one of the same length just before; 0 when the previous window had none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

POSITIVE_WEIGHT = 1.0
NEGATIVE_WEIGHT = 2.0
NEUTRAL_WEIGHT = 1.0


@dataclass(frozen=True)
class SentimentTotals:
    """Counts and reach-weights (each mention's reach floored at 1) per sentiment class."""

    positive: int = 0
    neutral: int = 0
    negative: int = 0
    positive_weight: float = 0.0
    neutral_weight: float = 0.0
    negative_weight: float = 0.0

    @property
    def count(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def net_sentiment(self) -> float:
        return net_sentiment(self.positive, self.negative, self.count)

    @property
    def reputation_index(self) -> float:
        return reputation_index(self.positive_weight, self.negative_weight, self.neutral_weight)


@dataclass(frozen=True)
class BrandAggregate:
    tenant: str
    label: str
    window_start: datetime
    window_end: datetime
    mention_count: int
    positive_count: int
    neutral_count: int
    negative_count: int
    total_reach: int
    total_engagement: int
    net_sentiment: float
    reputation_index: float
    share_of_voice: float
    top_hashtags: list[tuple[str, int]]
    top_authors: list[tuple[str, int]]
    top_links: list[tuple[str, int]] = field(default_factory=list)
    total_impressions: int = 0
    previous_mention_count: int = 0
    previous_net_sentiment: float = 0.0

    @property
    def mention_count_delta(self) -> float:
        """(mentions - previous) / previous; 0 when the previous window had no mentions."""
        if not self.previous_mention_count:
            return 0.0
        return (self.mention_count - self.previous_mention_count) / self.previous_mention_count


def net_sentiment(positive: int, negative: int, mentions: int) -> float:
    return (positive - negative) / mentions if mentions else 0.0


def reputation_index(positive_weight: float, negative_weight: float, neutral_weight: float) -> float:
    """R from the reach sums (each mention's reach floored at 1) of the three classes."""
    good = POSITIVE_WEIGHT * positive_weight
    bad = NEGATIVE_WEIGHT * negative_weight
    total = good + bad + NEUTRAL_WEIGHT * neutral_weight
    return 100.0 * (good - bad) / total if total > 0 else 0.0


def share_of_voice(label_mentions: int, all_mentions: int) -> float:
    return label_mentions / all_mentions if all_mentions else 0.0
