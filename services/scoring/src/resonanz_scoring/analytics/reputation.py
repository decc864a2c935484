"""Reputation index and net sentiment.

* **net sentiment** = (positive - negative) / total mentions, -1..1; 0 without mentions.
* **reputation index**, -100..+100, reach-weighted, negative mentions weighted ``w`` = 2 times::

      R = 100 (P - w N) / (P + w N + U)

  P, N, U are the sums over positive, negative and neutral mentions of each mention's weight
  :func:`mention_weight` = ``max(estimated_reach, 1)`` (a mention nobody could see still counts once).
  ``w`` = :data:`NEGATIVE_WEIGHT` = 2 after word-of-mouth research (TARP for the White House Office of
  Consumer Affairs, 1979/1986; Goodman 1999): a dissatisfied customer tells 8-12 people, a satisfied
  one 4-5 -- about twice as many. Only positive mentions give +100, only negative -100; neutral
  mentions pull towards 0; none gives 0.
"""

from __future__ import annotations

import math

from resonanz_scoring.analytics.errors import InvalidInputError

NEGATIVE_WEIGHT = 2.0


def mention_weight(estimated_reach: int) -> int:
    """A mention's weight in the reputation index: its reach, at least 1."""
    return max(estimated_reach, 1)


def reputation_index(
    positive_reach: float,
    neutral_reach: float,
    negative_reach: float,
    negative_weight: float = NEGATIVE_WEIGHT,
) -> float:
    """R in [-100, 100] from the weight sums of the three classes (see the module docstring)."""
    for name, value in (
        ("positive_reach", positive_reach),
        ("neutral_reach", neutral_reach),
        ("negative_reach", negative_reach),
        ("negative_weight", negative_weight),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise InvalidInputError(f"{name} must be finite and >= 0, got {value!r}")
    bad = negative_weight * negative_reach
    total = positive_reach + bad + neutral_reach
    if total <= 0:
        return 0.0
    return max(-100.0, min(100.0, 100.0 * (positive_reach - bad) / total))


def net_sentiment(positive: int, negative: int, total: int) -> float:
    """(positive - negative) / total, -1..1; 0 when ``total`` is 0."""
    if positive < 0 or negative < 0 or total < 0:
        raise InvalidInputError("counts must be >= 0")
    if positive + negative > total:
        raise InvalidInputError(f"positive + negative ({positive + negative}) exceed total ({total})")
    return (positive - negative) / total if total else 0.0
