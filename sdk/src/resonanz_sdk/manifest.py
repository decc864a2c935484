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

    def supports(self, feature: Feature) -> bool:
        return feature in self.features

    def rate_limit(self, operation: str) -> tuple[RateLimit, ...]:
        return tuple(r for r in self.rate_limits if r.operation in (operation, "*"))
