"""The typed contract a network plugin implements, and the plain data it exchanges with the core.

A plugin's hook registers :class:`Network` objects; the core calls their async methods. Plugins need
no protobuf: they see and return the frozen dataclasses below. Errors are raised as subclasses of
:class:`~resonanz_sdk.errors.NetworkError` so the core knows whether to retry, refresh credentials
or give up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from resonanz_sdk.errors import PermanentNetworkError
from resonanz_sdk.manifest import Feature, Manifest, MediaKind


@dataclass(frozen=True)
class Credentials:
    """Secrets of one connected account. Never printed: ``repr`` shows only the keys."""

    values: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Credentials(keys={sorted(self.values)})"

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)


@dataclass(frozen=True)
class AccountRef:
    """A brand's account on a network, as the plugin needs it for a call."""

    network: str
    handle: str
    credentials: Credentials = field(default_factory=Credentials)


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    uri: str
    mime_type: str = ""
    size_bytes: int = 0
    alt_text: str = ""


@dataclass(frozen=True)
class OutgoingPost:
    """What to publish. ``idempotency_key`` is stable for one (post, target) across all retries."""

    text: str
    idempotency_key: str
    media: tuple[Media, ...] = ()
    #: External id of the post this one replies to, for replies.
    in_reply_to: str | None = None


@dataclass(frozen=True)
class PublishedPost:
    external_id: str
    url: str
    published_at: datetime


@dataclass(frozen=True)
class Engagement:
    likes: int = 0
    shares: int = 0
    replies: int = 0
    quotes: int = 0
    views: int = 0


@dataclass(frozen=True)
class AuthorInfo:
    external_id: str
    handle: str
    display_name: str = ""
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True)
class RawMention:
    """One post seen on a network, in network-neutral form. Ids are the network's own."""

    external_id: str
    url: str
    author: AuthorInfo
    text: str
    published_at: datetime
    language: str = ""
    in_reply_to: str | None = None
    reshare_of: str | None = None
    quote_of: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    engagement: Engagement = field(default_factory=Engagement)


@dataclass(frozen=True)
class SearchRequest:
    """Ask the network for posts containing any of ``terms`` (words, "#tags", "@handles").

    ``cursor`` is the opaque value of the previous page's ``next_cursor``; the core stores it durably
    so collection resumes where it stopped.

    ``since`` / ``until`` restrict the posts to those published in ``[since, until)`` (either may be
    ``None``: open-ended). Historical backfill sets both and pages through the range with the cursor;
    a network that cannot search the past returns what it has in the range (possibly nothing).
    """

    terms: tuple[str, ...]
    languages: tuple[str, ...] = ()
    since: datetime | None = None
    cursor: str | None = None
    limit: int = 100
    until: datetime | None = None


@dataclass(frozen=True)
class StreamRequest:
    """Open a push stream of new posts containing any of ``terms`` (see :meth:`Network.stream`)."""

    terms: tuple[str, ...]
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchPage:
    mentions: tuple[RawMention, ...]
    #: Where the next call continues; equal to the request's cursor when nothing new was found.
    next_cursor: str | None


class Network(ABC):
    """A social network, as the core sees it. Implement what the manifest's features claim.

    Methods for features a network lacks keep the default, which refuses with a
    :class:`~resonanz_sdk.errors.PermanentNetworkError`.
    """

    @property
    @abstractmethod
    def manifest(self) -> Manifest:
        """Capabilities and limits; must not change while the process runs."""

    @property
    def name(self) -> str:
        return self.manifest.network

    def _unsupported(self, feature: Feature) -> PermanentNetworkError:
        return PermanentNetworkError(self.name, f"does not support {feature.value}")

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        """Publish ``post`` on ``account``. Raise a NetworkError subclass on failure."""
        raise self._unsupported(Feature.PUBLISH)

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        """The post an earlier publish with this key created, if it went through; else ``None``.

        Called before a publish that may already have happened is retried, so a crash never posts
        twice. Networks without ``LOOKUP_PUBLISHED`` return ``None`` and rely on
        ``IDEMPOTENT_PUBLISH`` or the worker's own bookkeeping.
        """
        return None

    async def reply(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        """Publish ``post`` as a reply to ``post.in_reply_to``."""
        raise self._unsupported(Feature.REPLY)

    async def delete(self, account: AccountRef, external_id: str) -> None:
        raise self._unsupported(Feature.DELETE)

    async def search(self, request: SearchRequest) -> SearchPage:
        """Posts matching the request, oldest first, after ``request.cursor``."""
        raise self._unsupported(Feature.SEARCH)

    async def stream(self, request: StreamRequest) -> AsyncIterator[RawMention]:
        """Push stream of new posts matching the request, for networks with ``Feature.STREAM``.

        An async generator: the stream is open once its first ``__anext__`` runs, and yields each
        matching post as the network pushes it (oldest first, no cursor). It ends by raising a
        :class:`~resonanz_sdk.errors.NetworkError` (``TransientNetworkError`` for a dropped
        connection, ``RateLimitedError`` when connecting too often) or by returning when the network
        closed it. The core then reconnects with back-off and fills the gap by polling ``search``
        with its durable cursor, so a stream need not be lossless; de-duplication makes overlaps
        harmless. Networks without streaming keep this default, which refuses.
        """
        raise self._unsupported(Feature.STREAM)
        yield  # type: ignore[unreachable]  # never runs; makes this method an async generator

    async def engagement(self, external_ids: Sequence[str]) -> Mapping[str, Engagement]:
        """Current engagement counts of the given posts; unknown ids are left out."""
        raise self._unsupported(Feature.ENGAGEMENT)

    async def refresh_credentials(self, account: AccountRef) -> Credentials:
        """New credentials after an :class:`AuthenticationFailedError`; default: the same ones."""
        return account.credentials

    async def aclose(self) -> None:  # noqa: B027 - optional hook: most networks hold nothing to release
        """Release connections; called once at shutdown."""
