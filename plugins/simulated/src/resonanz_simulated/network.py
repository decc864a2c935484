"""``SimulatedNetwork``: the :class:`~resonanz_sdk.network.Network` contract over a :class:`SimulatedWorld`.

It behaves like a real network where the core can notice: it validates texts and media against its
manifest, enforces its rate limits (in simulated time), de-duplicates publishes by idempotency key,
answers searches with durable cursors (and over the past: ``since``/``until`` before the world's start
return generated history), pushes new posts through :meth:`SimulatedNetwork.stream`, and can be told
to fail (:meth:`SimulatedNetwork.inject_fault`; :meth:`SimulatedNetwork.drop_streams` cuts open streams).

Within one process every instance built without an explicit world shares the world of
``RESONANZ_SIMULATED_SEED`` (see :func:`~resonanz_simulated.world.shared_world`): the publishing and
listening services of the embedded default see the same network. Separate processes do not share
what was published through them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

from resonanz_sdk.errors import PermanentNetworkError, TransientNetworkError
from resonanz_sdk.manifest import (
    ContentHints,
    EngagementWeights,
    Feature,
    Manifest,
    MediaKind,
    MediaRules,
    RateLimit,
    RateLimitScope,
    TextCounting,
    TextRules,
)
from resonanz_sdk.network import (
    AccountRef,
    AuthorInfo,
    Engagement,
    Network,
    OutgoingPost,
    PublishedPost,
    RawMention,
    SearchPage,
    SearchRequest,
    StreamRequest,
)
from resonanz_sdk.settings import Settings, get_settings
from resonanz_sdk.text import count_text

from resonanz_simulated.clock import ScaledClock
from resonanz_simulated.faults import FaultInjector, FaultKind
from resonanz_simulated.ratelimit import RateLimiter
from resonanz_simulated.world import SEQ_PER_TICK, TICK_SECONDS, Post, SimulatedWorld, shared_world

NAME = "simulated"
MAX_IMAGES = 4
MAX_VIDEOS = 1
MAX_PAGE = 500
CURSOR_PREFIX = "sim1:"
#: How often (real seconds) an open stream advances the world and pushes what it created.
STREAM_TICK_SECONDS = 0.1

MANIFEST = Manifest(
    network=NAME,
    display_name="Simulated network",
    features=frozenset(
        {
            Feature.PUBLISH,
            Feature.REPLY,
            Feature.DELETE,
            Feature.SEARCH,
            Feature.STREAM,
            Feature.ENGAGEMENT,
            Feature.LOOKUP_PUBLISHED,
            Feature.IDEMPOTENT_PUBLISH,
        }
    ),
    text=TextRules(max_length=500, counting=TextCounting.CODE_POINTS),
    media=MediaRules(
        max_items=MAX_IMAGES,
        allowed=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}),
        max_bytes={MediaKind.IMAGE: 10 * 1024 * 1024, MediaKind.VIDEO: 512 * 1024 * 1024},
    ),
    rate_limits=(
        RateLimit("publish", 300, 3 * 3600.0, RateLimitScope.ACCOUNT),
        RateLimit("delete", 300, 3 * 3600.0, RateLimitScope.ACCOUNT),
        RateLimit("search", 6000, 900.0, RateLimitScope.APP),
        RateLimit("engagement", 6000, 900.0, RateLimitScope.APP),
    ),
    docs_url="https://github.com/resonanz/resonanz/tree/main/plugins/simulated",
    notes="Up to 4 images or 1 video per post, never both. Replies count against the publish limit. "
    "Rate limits are counted in simulated time. A deterministic simulation for demos and tests.",
    # Stated explicitly although they are the defaults: likes, shares and replies count once
    # (the simulation has no quotes); views are exposure, not engagement.
    engagement=EngagementWeights(likes=1.0, shares=1.0, replies=1.0, quotes=1.0, views=0.0),
    content=ContentHints(recommended_max_hashtags=3),
)


def encode_cursor(seq: int) -> str:
    return f"{CURSOR_PREFIX}{seq:x}"


def decode_cursor(cursor: str) -> int:
    if not cursor.startswith(CURSOR_PREFIX):
        raise PermanentNetworkError(NAME, f"invalid search cursor {cursor!r}")
    try:
        return int(cursor[len(CURSOR_PREFIX) :], 16)
    except ValueError:
        raise PermanentNetworkError(NAME, f"invalid search cursor {cursor!r}") from None


def _to_wall(world: SimulatedWorld, simulated: datetime) -> datetime:
    """Simulated time as the outside world sees it (identity for clocks that run at wall speed)."""
    convert = getattr(world.clock, "to_wall", None)
    return simulated if convert is None else convert(simulated)


def _to_simulated(world: SimulatedWorld, wall: datetime) -> datetime:
    convert = getattr(world.clock, "to_simulated", None)
    return wall if convert is None else convert(wall)


class SimulatedNetwork(Network):
    """The simulated network.

    :param world: The world to act on; by default the process-wide world of the settings' seed,
        created on first use with a clock running at ``RESONANZ_SIMULATED_SPEED``.
    :param settings: Where seed, speed, brands, retention, activity and faults come from.
    """

    def __init__(self, world: SimulatedWorld | None = None, *, settings: Settings | None = None) -> None:
        self._settings = settings or get_settings()
        self._world = world
        self.faults = FaultInjector(NAME)
        self.faults.add_spec(self._settings.simulated_faults)
        speed = getattr(world.clock, "speed", 1.0) if world is not None else self._settings.simulated_speed
        self._limiter = RateLimiter(NAME, MANIFEST.rate_limits, speed=float(speed))
        self._stream_epoch = 0
        self.stream_tick_seconds = STREAM_TICK_SECONDS

    @property
    def manifest(self) -> Manifest:
        return MANIFEST

    @property
    def world(self) -> SimulatedWorld:
        """The world this network acts on (the shared one is created lazily, on first use)."""
        if self._world is None:
            s = self._settings
            self._world = shared_world(
                s.simulated_seed,
                lambda: ScaledClock(s.simulated_speed),
                brands=[b for b in s.simulated_brands.split(",") if b.strip()],
                retention=s.simulated_retention,
                activity=s.simulated_activity,
            )
        return self._world

    def inject_fault(
        self, operation: str, kind: FaultKind | str, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Make the next ``count`` calls of ``operation`` (or ``"*"``) fail with ``kind``."""
        self.faults.add(operation, kind, count, retry_after)

    def _enter(self, operation: str, account: str = "", limit: str | None = None) -> SimulatedWorld:
        """Common start of every call: injected faults, then rate limits, then the clock."""
        self.faults.check(operation)
        world = self.world
        world.advance()
        self._limiter.acquire(limit or operation, account, world.now.timestamp())
        return world

    # ------------------------------------------------------------ publishing

    def _validate(self, post: OutgoingPost) -> None:
        length = count_text(post.text, MANIFEST.text)
        if length > MANIFEST.text.max_length:
            raise PermanentNetworkError(
                NAME, f"text is {length} characters long; at most {MANIFEST.text.max_length} are allowed"
            )
        if not post.text.strip() and not post.media:
            raise PermanentNetworkError(NAME, "a post needs text or media")
        if not post.idempotency_key:
            raise PermanentNetworkError(NAME, "an idempotency key is required")
        kinds = [m.kind for m in post.media]
        for media in post.media:
            if media.kind not in MANIFEST.media.allowed:
                raise PermanentNetworkError(NAME, f"{media.kind.value} media are not supported")
            max_bytes = MANIFEST.media.max_bytes.get(media.kind)
            if max_bytes is not None and media.size_bytes > max_bytes:
                raise PermanentNetworkError(
                    NAME, f"{media.kind.value} {media.uri} is larger than {max_bytes} bytes"
                )
        images, videos = kinds.count(MediaKind.IMAGE), kinds.count(MediaKind.VIDEO)
        if videos and images:
            raise PermanentNetworkError(NAME, "a post carries images or a video, not both")
        if images > MAX_IMAGES or videos > MAX_VIDEOS:
            raise PermanentNetworkError(NAME, f"at most {MAX_IMAGES} images or {MAX_VIDEOS} video per post")

    def _published(self, world: SimulatedWorld, external_id: str, created: float) -> PublishedPost:
        post = world.get(external_id)
        handle = post.author.handle if post is not None else "unknown"
        return PublishedPost(
            external_id=external_id,
            url=f"https://simulated.resonanz.invalid/@{handle}/{external_id}",
            published_at=_to_wall(world, datetime.fromtimestamp(created, UTC)),
        )

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        if post.in_reply_to is not None:
            return await self.reply(account, post)
        return self._publish("publish", account, post)

    async def reply(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        if post.in_reply_to is None:
            raise PermanentNetworkError(NAME, "a reply needs in_reply_to")
        return self._publish("reply", account, post)

    def _publish(self, operation: str, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self._validate(post)
        world = self._enter(operation, account.handle, limit="publish")
        earlier = world.published(account.handle, post.idempotency_key)
        if earlier is None and post.in_reply_to is not None:
            parent = world.get(post.in_reply_to)
            if parent is None or parent.deleted:
                raise PermanentNetworkError(NAME, f"post {post.in_reply_to} does not exist (any more)")
        external_id, created = world.publish(
            account.handle,
            post.text,
            idempotency_key=post.idempotency_key,
            media=post.media,
            in_reply_to=post.in_reply_to,
        )
        return self._published(world, external_id, created)

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        self.faults.check("find_published")
        world = self.world
        found = world.published(account.handle, idempotency_key)
        return None if found is None else self._published(world, *found)

    async def delete(self, account: AccountRef, external_id: str) -> None:
        world = self._enter("delete", account.handle)
        post = world.get(external_id)
        if post is None:
            raise PermanentNetworkError(NAME, f"post {external_id} does not exist")
        if post.author.handle != account.handle.lstrip("@"):
            raise PermanentNetworkError(NAME, f"post {external_id} belongs to another account")
        world.delete(external_id)

    # ------------------------------------------------------------ listening

    async def search(self, request: SearchRequest) -> SearchPage:
        world = self._enter("search")
        terms = tuple(t for t in request.terms if t.strip())
        if not terms:
            raise PermanentNetworkError(NAME, "a search needs at least one term")
        limit = max(1, min(request.limit, MAX_PAGE))
        after = None if request.cursor is None else decode_cursor(request.cursor)
        current_tick = int(world.now.timestamp() // TICK_SECONDS)
        if after is not None and after // SEQ_PER_TICK > current_tick:
            # A cursor from a run whose clock was ahead of this one (a faster speed before a
            # restart): everything this world has is new to the caller.
            after = None
        world.remember_terms(terms)
        posts = world.search(
            terms,
            after_seq=after,
            limit=limit,
            languages=request.languages,
            since=None if request.since is None else _to_simulated(world, request.since),
            until=None if request.until is None else _to_simulated(world, request.until),
        )
        if not posts:
            return SearchPage(mentions=(), next_cursor=request.cursor)
        mentions = tuple(self._mention(world, p) for p in posts)
        return SearchPage(mentions=mentions, next_cursor=encode_cursor(posts[-1].seq))

    async def stream(self, request: StreamRequest) -> AsyncIterator[RawMention]:
        """Pushes every new post containing a term (and in a requested language) as the world creates it.

        The world moves on while a stream is open: every ``stream_tick_seconds`` it is advanced to its
        clock's time and what it created is pushed. :meth:`drop_streams` (or an injected ``stream``
        fault at connect time) ends streams with a ``TransientNetworkError``.
        """
        self.faults.check("stream")
        terms = tuple(t for t in request.terms if t.strip())
        if not terms:
            raise PermanentNetworkError(NAME, "a stream needs at least one term")
        folded = [t.casefold() for t in terms]
        langs = set(request.languages)
        world = self.world
        epoch = self._stream_epoch
        pushed: deque[Post] = deque()

        def listen(post: Post) -> None:
            if (not langs or post.language in langs) and any(t in post.folded for t in folded):
                pushed.append(post)

        world.advance()
        world.remember_terms(terms)
        world.add_listener(listen)
        try:
            while True:
                world.advance()
                while pushed:
                    post = pushed.popleft()
                    if not post.deleted:
                        yield self._mention(world, post)
                if self._stream_epoch != epoch:
                    raise TransientNetworkError(NAME, "stream disconnected")
                await asyncio.sleep(self.stream_tick_seconds)
        finally:
            world.remove_listener(listen)

    def drop_streams(self) -> None:
        """Disconnect every open stream (they raise ``TransientNetworkError``), like a network blip."""
        self._stream_epoch += 1

    @staticmethod
    def _mention(world: SimulatedWorld, post: Post) -> RawMention:
        counts = world.counts(post)
        author = post.author
        return RawMention(
            external_id=post.external_id,
            url=post.url,
            author=AuthorInfo(
                external_id=author.external_id,
                handle=author.handle,
                display_name=author.display_name,
                followers=author.followers,
                verified=author.verified,
            ),
            text=post.text,
            published_at=_to_wall(world, post.published_at),
            language=post.language,
            in_reply_to=post.in_reply_to,
            reshare_of=post.reshare_of,
            hashtags=post.hashtags,
            mentions=post.mentions,
            links=post.links,
            media=post.media,
            engagement=Engagement(
                likes=counts.likes, shares=counts.shares, replies=counts.replies, views=counts.views
            ),
        )

    async def engagement(self, external_ids: Sequence[str]) -> Mapping[str, Engagement]:
        world = self._enter("engagement")
        result: dict[str, Engagement] = {}
        for external_id in external_ids:
            post = world.get(external_id)
            if post is None or post.deleted:
                continue
            c = world.counts(post)
            result[external_id] = Engagement(likes=c.likes, shares=c.shares, replies=c.replies, views=c.views)
        return result
