"""Content optimisation: advice on a draft per network, and the best times to post for an account.

**Draft advice** (:func:`advise`), from the network's manifest only:

* ``length`` is counted the way the network counts it (``TextRules.counting``, e.g. UTF-16 units, or
  every URL as 23 characters on X) and ``fits`` is ``length <= max_length``;
* hashtags are ``#`` followed by word characters containing at least one letter (``#1`` is not a
  hashtag), not preceded by a word character; ``recommended_max_hashtags`` comes from the manifest's
  ``ContentHints`` (default 3);
* suggestions, most important first: too long by N; media required but none attached; empty text;
  too many hashtags; longer than the soft limit (``ContentHints.recommended_max_length``); no
  hashtags; neither a question nor a link (a question invites replies, a link gives readers
  somewhere to go); mostly capital letters (reads as shouting).

**Best times** (:func:`best_times`), from the account's own published posts and the engagement each
earned: posts are grouped into the 168 UTC (weekday, hour) slots. Two guards keep one lucky post from
winning:

1. every post's engagement is capped at the account's 90th percentile (:data:`ENGAGEMENT_CAP_QUANTILE`,
   linear interpolation): a viral post counts as a very good post, not as ten good ones;
2. each slot's mean of the capped values is shrunk towards the account's capped mean ``m`` as if the
   slot had :data:`PRIOR_POSTS` = 3 more posts of engagement ``m`` (additive smoothing, an
   empirical-Bayes estimate): ``score = (sum + 3 m) / (n + 3)``.

So a slot that is good week after week beats a slot with one outlier. Slots are ranked by the score
(ties: more posts, then earlier weekday and hour); only slots scoring above ``m`` are returned, at
most ``top``, and nothing with fewer than ``min_posts`` (default :data:`MIN_POSTS` = 10) posts of
history. ``mean_engagement`` is the slot's plain (uncapped) mean, ``score`` the ranking score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from resonanz_sdk.manifest import Manifest, TextCounting
from resonanz_sdk.text import count_text

from resonanz_scoring.analytics.errors import InvalidInputError
from resonanz_scoring.analytics.windows import as_utc

PRIOR_POSTS = 3
ENGAGEMENT_CAP_QUANTILE = 0.9
MIN_POSTS = 10
#: Share of capital letters (of at least :data:`SHOUTING_MIN_LETTERS` letters) that reads as shouting.
SHOUTING_RATIO = 0.7
SHOUTING_MIN_LETTERS = 12

_HASHTAG = re.compile(r"(?<![\w#])#(\w*[^\W\d_]\w*)")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
#: Question marks of many scripts: Latin/Cyrillic, Spanish opening, Greek, Arabic, full-width.
_QUESTION = re.compile("[?\u00bf\u037e\u061f\uff1f]")

_COUNTING_WORDS = {
    TextCounting.CODE_POINTS: "characters",
    TextCounting.UTF16_UNITS: "UTF-16 units",
    TextCounting.CODE_POINTS_URLS_FIXED: "characters, every link counting as a fixed length",
}


@dataclass(frozen=True, slots=True)
class BestTimeData:
    #: 0 = Monday .. 6 = Sunday, UTC.
    weekday: int
    hour: int
    mean_engagement: float
    posts: int
    #: The smoothed score the slot was ranked by.
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class NetworkAdviceData:
    network: str
    length: int
    max_length: int
    fits: bool
    hashtag_count: int
    recommended_max_hashtags: int
    suggestions: tuple[str, ...]
    best_times: tuple[BestTimeData, ...] = ()


def hashtags_of(text: str) -> list[str]:
    """The hashtags of ``text``, without ``#``, in order (duplicates kept)."""
    return _HASHTAG.findall(text)


def _is_shouting(text: str) -> bool:
    letters = [c for c in _URL.sub("", _HASHTAG.sub("", text)) if c.isalpha()]
    if len(letters) < SHOUTING_MIN_LETTERS:
        return False
    return sum(1 for c in letters if c.isupper()) / len(letters) >= SHOUTING_RATIO


def advise(
    text: str,
    manifest: Manifest,
    language: str = "",
    *,
    media_count: int = 0,
    best: Sequence[BestTimeData] = (),
) -> NetworkAdviceData:
    """Advice on ``text`` for the network of ``manifest`` (module docstring).

    ``language`` (ISO 639-1, may be empty) is reserved for language-specific checks; today every
    check works on any language. ``best`` is passed through as the advice's best times.
    """
    del language  # every current check is language-independent (see the docstring)
    rules = manifest.text
    hints = manifest.content
    name = manifest.display_name or manifest.network
    length = count_text(text, rules)
    tags = hashtags_of(text)
    suggestions: list[str] = []
    if length > rules.max_length:
        unit = _COUNTING_WORDS.get(rules.counting, "characters")
        suggestions.append(
            f"Too long by {length - rules.max_length} for {name}: {length} of at most "
            f"{rules.max_length} ({unit})."
        )
    if manifest.media.required and media_count <= 0:
        suggestions.append(f"{name} needs an image or a video with the post.")
    if not text.strip():
        suggestions.append("The text is empty.")
    else:
        if len(tags) > hints.recommended_max_hashtags:
            suggestions.append(
                f"Too many hashtags: {len(tags)}, at most {hints.recommended_max_hashtags} "
                f"recommended for {name}."
            )
        soft = hints.recommended_max_length
        if soft is not None and soft < length <= rules.max_length:
            suggestions.append(f"Longer than the recommended {soft} for {name}: shorten by {length - soft}.")
        if not tags and hints.recommended_max_hashtags > 0:
            suggestions.append(
                f"No hashtags: add 1-{hints.recommended_max_hashtags} relevant ones so people find it."
            )
        if not _QUESTION.search(text) and not _URL.search(text):
            suggestions.append(
                "Add a question to invite replies, or a link that gives readers somewhere to go."
            )
        if _is_shouting(text):
            suggestions.append("Mostly capital letters read as shouting: use normal case.")
    return NetworkAdviceData(
        network=manifest.network,
        length=length,
        max_length=rules.max_length,
        fits=length <= rules.max_length,
        hashtag_count=len(tags),
        recommended_max_hashtags=hints.recommended_max_hashtags,
        suggestions=tuple(suggestions),
        best_times=tuple(best),
    )


def best_times(
    history: Sequence[tuple[datetime, int]],
    top: int = 3,
    min_posts: int = MIN_POSTS,
    *,
    prior_posts: float = PRIOR_POSTS,
) -> list[BestTimeData]:
    """The best UTC (weekday, hour) slots to post, best first, from ``(published_at, engagement)``
    of the account's own posts (module docstring); empty without enough history."""
    if top < 0 or min_posts < 0 or prior_posts < 0:
        raise InvalidInputError("top, min_posts and prior_posts must be >= 0")
    if len(history) < max(min_posts, 1) or top == 0:
        return []
    values = [float(max(engagement, 0)) for _, engagement in history]
    cap = float(np.quantile(np.array(values), ENGAGEMENT_CAP_QUANTILE))
    sums: dict[tuple[int, int], float] = {}
    capped: dict[tuple[int, int], float] = {}
    counts: dict[tuple[int, int], int] = {}
    for (published_at, _), value in zip(history, values, strict=True):
        t = as_utc(published_at)
        slot = (t.weekday(), t.hour)
        sums[slot] = sums.get(slot, 0.0) + value
        capped[slot] = capped.get(slot, 0.0) + min(value, cap)
        counts[slot] = counts.get(slot, 0) + 1
    mean = sum(capped.values()) / len(history)
    slots = [
        BestTimeData(
            weekday=slot[0],
            hour=slot[1],
            mean_engagement=sums[slot] / n,
            posts=n,
            score=(capped[slot] + prior_posts * mean) / (n + prior_posts),
        )
        for slot, n in counts.items()
    ]
    margin = 1e-9 * max(1.0, mean)  # rounding must not lift a slot that is exactly average
    better = [s for s in slots if s.score > mean + margin]
    better.sort(key=lambda s: (-s.score, -s.posts, s.weekday, s.hour))
    return better[:top]
