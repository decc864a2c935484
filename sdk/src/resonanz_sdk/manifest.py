"""The capabilities-and-limits manifest every network plugin publishes.

The core never asks "which network is this?"; it reads the manifest: what the network supports, how
long a text may be and how the network counts it, which media it takes, and its rate limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Feature(StrEnum):
    """What a network plugin can do. The plugin test kit checks each claim."""

    PUBLISH = "publish"
    REPLY = "reply"
    DELETE = "delete"
    SEARCH = "search"
    STREAM = "stream"
    ENGAGEMENT = "engagement"
    MEDIA_UPLOAD = "media_upload"
    #: The network de-duplicates publishes that carry the same idempotency key (e.g. Mastodon).
    IDEMPOTENT_PUBLISH = "idempotent_publish"
    #: ``find_published`` can tell whether a publish with a given idempotency key went through.
    LOOKUP_PUBLISHED = "lookup_published"
    #: No API: a person posts what the platform prepared and confirms it (e.g. Xing).
    ASSISTED_PUBLISH = "assisted_publish"


class TextCounting(StrEnum):
    """How a network counts the length of a text."""

    #: Unicode code points (Python ``len``).
    CODE_POINTS = "code_points"
    #: UTF-16 code units (JavaScript ``length``): characters outside the BMP count twice.
    UTF16_UNITS = "utf16_units"
    #: Code points, but every URL counts as ``url_length`` (X's t.co shortening).
    CODE_POINTS_URLS_FIXED = "code_points_urls_fixed"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    GIF = "gif"


class RateLimitScope(StrEnum):
    #: Counted per connected account (user token).
    ACCOUNT = "account"
    #: Counted for the whole app (app token), across all accounts.
    APP = "app"


@dataclass(frozen=True)
class TextRules:
    max_length: int
    counting: TextCounting = TextCounting.CODE_POINTS
    #: Length every URL counts as, for ``CODE_POINTS_URLS_FIXED``.
    url_length: int | None = None


@dataclass(frozen=True)
class MediaRules:
    max_items: int = 0
    allowed: frozenset[MediaKind] = frozenset()
    #: Largest accepted file per kind, in bytes.
    max_bytes: Mapping[MediaKind, int] = field(default_factory=dict)
    #: The network refuses posts without media (e.g. Instagram, Pinterest).
    required: bool = False


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls of ``operation`` per ``per_seconds``, counted per ``scope``."""

    operation: str
    requests: int
    per_seconds: float
    scope: RateLimitScope = RateLimitScope.ACCOUNT


@dataclass(frozen=True)
class EngagementWeights:
    """How the network's interactions add up to one engagement figure (docs/scoring/metrics.md).

    ``engagement = floor(likes*w_likes + shares*w_shares + replies*w_replies + quotes*w_quotes +
    views*w_views)``. The defaults are the industry's common definition: every like, share, reply and
    quote counts once; views are exposure, not engagement, and count 0. A network whose interactions
    mean something else states its own weights here (e.g. a network without quotes leaves them at 1,
    they are simply always 0). Weights must be finite and >= 0.
    """

    likes: float = 1.0
    shares: float = 1.0
    replies: float = 1.0
    quotes: float = 1.0
    views: float = 0.0

    def __post_init__(self) -> None:
        for name in ("likes", "shares", "replies", "quotes", "views"):
            value = getattr(self, name)
            if not (value >= 0.0 and value != float("inf")):
                raise ValueError(f"engagement weight {name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True)
class ContentHints:
    """Advice the scoring service gives on drafts for this network (``ScoreDraft``).

    ``recommended_max_hashtags``: more hashtags than this are flagged as too many (default 3, the
    usual advice for X, Mastodon, LinkedIn and Facebook; Instagram tolerates more and may say so).
    ``recommended_max_length``: a soft length above which a shorter text is suggested, within the
    hard ``TextRules.max_length``; None means no soft limit.
    """

    recommended_max_hashtags: int = 3
    recommended_max_length: int | None = None

    def __post_init__(self) -> None:
        if self.recommended_max_hashtags < 0:
            raise ValueError("recommended_max_hashtags must be >= 0")
        if self.recommended_max_length is not None and self.recommended_max_length <= 0:
            raise ValueError("recommended_max_length must be positive when set")


@dataclass(frozen=True)
class Manifest:
    """Everything the core may know about a network: data, never code paths."""

    #: Stable lower-case identifier, used in targets, events and ids ("mastodon", "simulated").
    network: str
    display_name: str
    features: frozenset[Feature]
    text: TextRules
    media: MediaRules = field(default_factory=MediaRules)
    rate_limits: tuple[RateLimit, ...] = ()
    #: Where the limits above are documented by the network.
    docs_url: str = ""
    notes: str = ""
    #: How engagement is counted on this network (optional; defaults: likes+shares+replies+quotes).
    engagement: EngagementWeights = field(default_factory=EngagementWeights)
    #: Draft advice for this network (optional; defaults: at most 3 hashtags, no soft length).
    content: ContentHints = field(default_factory=ContentHints)

    def supports(self, feature: Feature) -> bool:
        return feature in self.features

    def rate_limit(self, operation: str) -> tuple[RateLimit, ...]:
        return tuple(r for r in self.rate_limits if r.operation in (operation, "*"))
