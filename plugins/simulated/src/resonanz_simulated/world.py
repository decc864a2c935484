"""The simulation: a deterministic, lively social network driven by a clock.

Time is cut into ticks of ``TICK_SECONDS``. Every tick's organic posts come from a random generator
seeded with ``(seed, tick)``; every post's reactions (reshares, replies, likes) from one seeded with
``(seed, post sequence number)``. Reactions are scheduled as future events and run when the clock
gets there, so cascades unfold over simulated minutes. Nothing reads the wall clock or Python's
randomised ``hash``: the same seed and the same sequence of calls and clock readings give exactly the
same posts, ids and numbers in every process.

Sequence numbers are ``tick * SEQ_PER_TICK + n``: they grow with simulated time, so a cursor holding
one stays meaningful after a restart with the same seed (posts made while the process was down simply
never existed).

The world is generated lazily: each call first advances it to the clock's current time, so a busy
process pays a few microseconds per simulated second and an idle one pays nothing. A long pause is
not replayed beyond ``MAX_CATCHUP_SECONDS``. Memory is bounded: the newest ``retention`` posts are
kept, older ones are forgotten (their ids become unknown).

**History.** Ticks before the world started are *history*: :meth:`SimulatedWorld.search` with a
``since`` before the start generates them on demand, as a pure function of ``(seed, tick)``: the
organic posts about the brands and chatter (no cascades: history has no reshares or replies), plus,
for each search term, posts about that term from a generator seeded with ``(seed, tick, term)``, so
a backfill of any query finds something and every process agrees on every historical post. Sequence
numbers of history keep the ``tick * SEQ_PER_TICK + n`` scheme: organic posts take ``n < 256``, the
posts about a term ``n = slot * 256 + k`` with ``slot = 1 + crc32(term) % 4095`` (two terms may share
a slot; then their posts share ids, which only a test with thousands of terms could notice).

**Listeners.** :meth:`SimulatedWorld.add_listener` registers a callback that sees every post the
moment the world creates it (push streams are built on it).
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from resonanz_sdk.network import Media

from resonanz_simulated import content
from resonanz_simulated.clock import Clock
from resonanz_simulated.content import Sentiment
from resonanz_simulated.population import Account, brand_account, build_population

TICK_SECONDS = 10.0
SEQ_PER_TICK = 1 << 20
POPULATION_SIZE = 5_000
#: Organic posts per tick at activity 1.0 (about 1,100 an hour).
POSTS_PER_TICK = 3.0
#: Share of organic posts that talk about a brand or a remembered search term.
TOPIC_SHARE = 0.4
#: Of those, the share about remembered search terms (when there are any) rather than brands.
TERM_SHARE = 0.3
MAX_REMEMBERED_TERMS = 200
MAX_IDEMPOTENCY_KEYS = 100_000
MAX_CATCHUP_SECONDS = 6 * 3600.0
#: Crisis waves: each hour-long slot starts one with this probability.
CRISIS_SLOT_SECONDS = 3600.0
CRISIS_PROBABILITY = 0.15
CRISIS_MIN_SECONDS = 15 * 60.0
CRISIS_MAX_SECONDS = 40 * 60.0
#: Extra negative posts per tick about the brand in crisis.
CRISIS_POSTS_PER_TICK = 4.0
#: Cascades: expected reshares = SHARE_FACTOR * sqrt(followers) * DEPTH_DECAY ** depth.
SHARE_FACTOR = 0.02
DEPTH_DECAY = 0.5
MAX_SHARES_PER_POST = 150
RESHARE_DELAY_SECONDS = 60.0
REPLY_FACTOR = 0.006
LIKES_TAU_SECONDS = 600.0
VIEWS_TAU_SECONDS = 900.0
#: Reactions to a brand's own post.
BRAND_REPLIES_MIN = 4
BRAND_REPLIES_MEAN_EXTRA = 6.0
BRAND_REPLY_DELAY_SECONDS = 150.0
BRAND_SHARE_BOOST = 1.5
#: History: organic posts take sequence offsets below this; each term's posts a block of this size.
HISTORY_BLOCK = 256
HISTORY_TERM_SLOTS = (SEQ_PER_TICK // HISTORY_BLOCK) - 1

URL_BASE = "https://simulated.resonanz.invalid"

_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Crisis:
    """A wave of negative posts about ``brand`` between ``start`` and ``end``."""

    brand: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class Post:
    """One post of the world. ``sentiment``, ``topic`` and ``crisis`` are the world's ground truth."""

    seq: int
    external_id: str
    author: Account
    text: str
    created: float
    language: str
    sentiment: Sentiment
    topic: str | None
    crisis: bool
    in_reply_to: str | None
    reshare_of: str | None
    depth: int
    likes_total: int
    views_total: int
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    links: tuple[str, ...]
    media: tuple[Media, ...] = ()
    shares: int = 0
    replies: int = 0
    deleted: bool = False
    folded: str = ""

    @property
    def url(self) -> str:
        return f"{URL_BASE}/@{self.author.handle}/{self.external_id}"

    @property
    def published_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, UTC)


@dataclass(frozen=True)
class Counts:
    """Engagement of a post at one moment."""

    likes: int
    shares: int
    replies: int
    views: int


@dataclass(slots=True)
class _Spec:
    """A post that will appear when the clock reaches its time."""

    author: Account
    text: str
    language: str
    sentiment: Sentiment
    topic: str | None = None
    crisis: bool = False
    in_reply_to: str | None = None
    reshare_of: str | None = None
    depth: int = 0
    boost: float = 1.0
    media: tuple[Media, ...] = field(default_factory=tuple)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson sample; normal approximation for large means (cheap either way)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _ts(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError("the simulated world needs timezone-aware datetimes")
    return when.timestamp()


class SimulatedWorld:
    """A deterministic social network in memory.

    :param seed: Same seed, same world.
    :param clock: Where simulated time comes from (:class:`~resonanz_simulated.clock.ManualClock` in
        tests, :class:`~resonanz_simulated.clock.ScaledClock` otherwise). The world starts at the
        clock's time when it is created.
    :param brands: Brand names people talk about organically (and in crisis waves).
    :param retention: How many posts are kept; older ones are forgotten.
    :param activity: Multiplier of the organic posting rate.
    """

    def __init__(
        self,
        seed: int,
        clock: Clock,
        *,
        brands: Sequence[str] = ("Resonanz", "Klangwerk"),
        retention: int = 20_000,
        activity: float = 1.0,
        population_size: int = POPULATION_SIZE,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be positive")
        self.seed = seed
        self.clock = clock
        self.brands: tuple[str, ...] = tuple(b.strip() for b in brands if b.strip())
        self.retention = retention
        self.activity = activity
        self.population = build_population(seed, population_size)
        self._big = tuple(a for a in self.population if a.followers >= 1_000)
        self._lock = threading.RLock()
        self._now = _ts(clock.now())
        self._started = self._now
        self._next_tick = math.floor(self._now / TICK_SECONDS)
        self._last_seq = self._next_tick * SEQ_PER_TICK - 1
        self._events: list[tuple[float, int, _Spec]] = []
        self._event_order = 0
        self._posts: list[Post] = []
        self._seqs: list[int] = []
        self._by_id: dict[str, Post] = {}
        self._terms: OrderedDict[str, None] = OrderedDict()
        self._accounts: dict[str, Account] = {}
        self._published: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._published_posts: dict[str, tuple[str, float]] = {}
        self._listeners: list[Callable[[Post], None]] = []

    # ----------------------------------------------------------------- time

    @property
    def now(self) -> datetime:
        """How far the world has been generated."""
        return datetime.fromtimestamp(self._now, UTC)

    def advance(self) -> None:
        """Advance to the clock's current time."""
        self.advance_to(self.clock.now())

    def advance_to(self, when: datetime) -> None:
        """Generate everything that happens up to ``when`` (a moment in the past is a no-op)."""
        t = _ts(when)
        with self._lock:
            if t <= self._now:
                return
            if t - self._now > MAX_CATCHUP_SECONDS:
                skipped_to = t - MAX_CATCHUP_SECONDS
                self._next_tick = max(self._next_tick, math.floor(skipped_to / TICK_SECONDS))
                self._now = skipped_to
            while self._next_tick * TICK_SECONDS <= t:
                self._generate_tick(self._next_tick)
                self._next_tick += 1
            while self._events and self._events[0][0] <= t:
                at, _, spec = heapq.heappop(self._events)
                parent = self._by_id.get(spec.reshare_of) if spec.reshare_of else None
                if parent is not None and parent.deleted:
                    continue  # nobody reshares what is gone
                self._create(spec, at)
            self._now = t
            self._evict()

    # ------------------------------------------------------------- crises

    def crisis_at(self, when: datetime) -> Crisis | None:
        """The crisis wave running at ``when``, if any (a pure function of the seed)."""
        t = _ts(when)
        slot = math.floor(t / CRISIS_SLOT_SECONDS)
        for s in (slot, slot - 1):
            crisis = self._crisis_of_slot(s)
            if crisis is not None and _ts(crisis.start) <= t < _ts(crisis.end):
                return crisis
        return None

    def crises_between(self, start: datetime, end: datetime) -> list[Crisis]:
        """Every crisis wave that starts in ``[start, end)``, in order."""
        first = math.floor(_ts(start) / CRISIS_SLOT_SECONDS)
        last = math.floor(_ts(end) / CRISIS_SLOT_SECONDS)
        found = []
        for s in range(first, last + 1):
            crisis = self._crisis_of_slot(s)
            if crisis is not None and start <= crisis.start < end:
                found.append(crisis)
        return found

    def _crisis_of_slot(self, slot: int) -> Crisis | None:
        if not self.brands:
            return None
        rng = random.Random(f"{self.seed}:crisis:{slot}")
        if rng.random() >= CRISIS_PROBABILITY:
            return None
        start = slot * CRISIS_SLOT_SECONDS + rng.uniform(0, CRISIS_SLOT_SECONDS)
        duration = rng.uniform(CRISIS_MIN_SECONDS, CRISIS_MAX_SECONDS)
        brand = rng.choice(self.brands)
        return Crisis(
            brand=brand,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + duration, UTC),
        )

    # --------------------------------------------------------- generation

    def _schedule(self, at: float, spec: _Spec) -> None:
        self._event_order += 1
        heapq.heappush(self._events, (at, self._event_order, spec))

    def _pick_topic(self, rng: random.Random, terms: Sequence[str]) -> str:
        """A brand, or (``TERM_SHARE`` of the time, however many there are) a remembered term."""
        if terms and (not self.brands or rng.random() < TERM_SHARE):
            return rng.choice(terms)
        return rng.choice(self.brands)

    def _generate_tick(self, tick: int) -> None:
        rng = random.Random(f"{self.seed}:tick:{tick}")
        start = tick * TICK_SECONDS
        terms = list(self._terms)
        for _ in range(_poisson(rng, POSTS_PER_TICK * self.activity)):
            at = start + rng.random() * TICK_SECONDS
            author = rng.choice(self.population)
            lang = author.language
            if (terms or self.brands) and rng.random() < TOPIC_SHARE:
                topic = self._pick_topic(rng, terms)
                crisis = self.crisis_at(datetime.fromtimestamp(at, UTC))
                negative_bias = crisis is not None and crisis.brand == topic
                sentiment = self._pick_sentiment(rng, negative_bias)
                template = rng.choice(content.BRAND_POSTS[(lang, sentiment)])
                text = self._render(rng, template, lang, topic)
                spec = _Spec(author, text, lang, sentiment, topic=topic)
            else:
                text = self._render(rng, rng.choice(content.CHATTER[lang]), lang, None)
                spec = _Spec(author, text, lang, Sentiment.NEUTRAL)
            if at >= self._started:
                self._schedule(at, spec)
        crisis = self.crisis_at(datetime.fromtimestamp(start, UTC)) or self.crisis_at(
            datetime.fromtimestamp(start + TICK_SECONDS - 1e-6, UTC)
        )
        if crisis is None:
            return
        lo, hi = _ts(crisis.start), _ts(crisis.end)
        for _ in range(_poisson(rng, CRISIS_POSTS_PER_TICK * self.activity)):
            at = start + rng.random() * TICK_SECONDS
            author = rng.choice(self.population)
            text = self._render(
                rng, rng.choice(content.CRISIS_POSTS[author.language]), author.language, crisis.brand
            )
            if lo <= at < hi and at >= self._started:
                spec = _Spec(
                    author,
                    text,
                    author.language,
                    Sentiment.NEGATIVE,
                    topic=crisis.brand,
                    crisis=True,
                    boost=1.5,
                )
                self._schedule(at, spec)

    @staticmethod
    def _pick_sentiment(rng: random.Random, negative_bias: bool) -> Sentiment:
        r = rng.random()
        if negative_bias:
            return Sentiment.NEGATIVE if r < 0.7 else Sentiment.NEUTRAL if r < 0.85 else Sentiment.POSITIVE
        return Sentiment.POSITIVE if r < 0.45 else Sentiment.NEUTRAL if r < 0.75 else Sentiment.NEGATIVE

    def _render(self, rng: random.Random, template: str, lang: str, topic: str | None) -> str:
        tag = rng.choice(content.TOPIC_TAGS[lang]) if rng.random() < 0.6 else ""
        domain = content.ascii_handle(topic or "") or "news"
        link = f"https://{domain}.example/{rng.choice(content.LINK_PATHS)}"
        text = template.format(brand=self._surface(rng, topic or ""), tag=tag, link=link, handle="")
        return " ".join(text.split())

    @staticmethod
    def _surface(rng: random.Random, topic: str) -> str:
        """How a post writes a topic: the name, a hashtag or the @handle."""
        if topic.startswith(("#", "@")):
            return topic
        r = rng.random()
        if " " in topic or r < 0.6:
            return topic
        if r < 0.8:
            return f"#{topic}"
        return f"@{content.ascii_handle(topic)}"

    def _next_seq(self, at: float) -> int:
        self._last_seq = max(self._last_seq + 1, math.floor(at / TICK_SECONDS) * SEQ_PER_TICK)
        return self._last_seq

    def _create(self, spec: _Spec, at: float) -> Post:
        seq = self._next_seq(at)
        rng = random.Random(f"{self.seed}:post:{seq}")
        reach = spec.author.followers
        expected_likes = 0.03 * reach**0.9 * spec.boost + 0.5
        post = Post(
            seq=seq,
            external_id=str(seq),
            author=spec.author,
            text=spec.text,
            created=at,
            language=spec.language,
            sentiment=spec.sentiment,
            topic=spec.topic,
            crisis=spec.crisis,
            in_reply_to=spec.in_reply_to,
            reshare_of=spec.reshare_of,
            depth=spec.depth,
            likes_total=int(rng.lognormvariate(math.log(expected_likes), 0.5)),
            views_total=int(reach * rng.uniform(0.2, 0.8)) + 10,
            hashtags=tuple(dict.fromkeys(_HASHTAG.findall(spec.text))),
            mentions=tuple(dict.fromkeys(_MENTION.findall(spec.text))),
            links=tuple(dict.fromkeys(_LINK.findall(spec.text))),
            media=spec.media,
            folded=spec.text.casefold(),
        )
        self._posts.append(post)
        self._seqs.append(seq)
        self._by_id[post.external_id] = post
        for listener in tuple(self._listeners):
            listener(post)
        parent_id = spec.reshare_of or spec.in_reply_to
        parent = self._by_id.get(parent_id) if parent_id else None
        if parent is not None:
            if spec.reshare_of:
                parent.shares += 1
            else:
                parent.replies += 1
        if spec.in_reply_to is None:
            self._schedule_cascade(rng, post, spec.boost)
        return post

    def _schedule_cascade(self, rng: random.Random, post: Post, boost: float) -> None:
        """Reshares (which cascade further) and replies of ordinary people."""
        reach = post.author.followers
        mean = SHARE_FACTOR * math.sqrt(reach) * DEPTH_DECAY**post.depth * boost
        root_text = post.text
        if post.reshare_of is not None:
            root_text = post.text.split(": ", 1)[-1]
        # Followers of big accounts include more big accounts, so big posts cascade further.
        big_share = 0.05 + 0.3 * min(1.0, reach / 500_000)
        for _ in range(min(MAX_SHARES_PER_POST, _poisson(rng, mean))):
            sharer = (
                rng.choice(self._big)
                if self._big and rng.random() < big_share
                else rng.choice(self.population)
            )
            if sharer is post.author:
                continue
            text = f"RT @{post.author.handle}: {root_text}"[:500]
            at = post.created + rng.expovariate(1.0 / (RESHARE_DELAY_SECONDS * (1 + post.depth)))
            spec = _Spec(
                sharer,
                text,
                post.language,
                post.sentiment,
                topic=post.topic,
                crisis=post.crisis,
                reshare_of=post.external_id,
                depth=post.depth + 1,
                boost=boost,
            )
            self._schedule(at, spec)
        if post.reshare_of is not None:
            return
        for _ in range(_poisson(rng, REPLY_FACTOR * math.sqrt(reach))):
            replier = rng.choice(self.population)
            template = rng.choice(content.CHATTER_REPLIES[replier.language])
            text = template.format(handle=f"@{post.author.handle}")
            at = post.created + rng.expovariate(1.0 / RESHARE_DELAY_SECONDS)
            self._schedule(
                at, _Spec(replier, text, replier.language, Sentiment.NEUTRAL, in_reply_to=post.external_id)
            )

    def _react_to_brand_post(self, post: Post) -> None:
        """People answer a brand's post: replies addressing the brand account, in both languages."""
        rng = random.Random(f"{self.seed}:brand:{post.seq}")
        crisis = self.crisis_at(post.published_at)
        in_crisis = crisis is not None and (
            crisis.brand.casefold() in post.folded
            or content.ascii_handle(crisis.brand) in post.author.handle.casefold()
        )
        for i in range(BRAND_REPLIES_MIN + _poisson(rng, BRAND_REPLIES_MEAN_EXTRA)):
            replier = rng.choice(self.population)
            sentiment = self._pick_sentiment(rng, in_crisis)
            template = rng.choice(content.BRAND_REPLIES[(replier.language, sentiment)])
            text = template.format(handle=f"@{post.author.handle}")
            # The first answers come quickly, the rest trickle in over the next minutes.
            delay = 5.0 + 10.0 * i + rng.expovariate(1.0 / BRAND_REPLY_DELAY_SECONDS)
            self._schedule(
                post.created + delay,
                _Spec(replier, text, replier.language, sentiment, in_reply_to=post.external_id),
            )

    # --------------------------------------------------------- bookkeeping

    def _evict(self) -> None:
        excess = len(self._posts) - self.retention
        if excess <= max(1, self.retention // 10):
            return
        for post in self._posts[:excess]:
            self._by_id.pop(post.external_id, None)
        del self._posts[:excess]
        del self._seqs[:excess]

    def remember_terms(self, terms: Iterable[str]) -> None:
        """Search terms the world has been asked about: people start talking about them."""
        known = {b.casefold() for b in self.brands}
        with self._lock:
            for raw in terms:
                term = " ".join(raw.split())
                if not term or term.casefold() in known or term.lstrip("#@").casefold() in known:
                    continue
                self._terms[term] = None
                self._terms.move_to_end(term)
                while len(self._terms) > MAX_REMEMBERED_TERMS:
                    self._terms.popitem(last=False)

    @property
    def remembered_terms(self) -> tuple[str, ...]:
        return tuple(self._terms)

    def account(self, handle: str) -> Account:
        """The account behind ``handle``: a brand account is created on first use."""
        handle = handle.lstrip("@")
        with self._lock:
            found = self._accounts.get(handle)
            if found is None:
                found = brand_account(handle, f"b{len(self._accounts)}")
                self._accounts[handle] = found
            return found

    # --------------------------------------------------------- queries

    def get(self, external_id: str) -> Post | None:
        """A retained post (deleted ones included, with ``deleted`` set)."""
        return self._by_id.get(external_id)

    def posts(self) -> list[Post]:
        """Every retained post that is not deleted, oldest first (for tests and demos)."""
        with self._lock:
            return [p for p in self._posts if not p.deleted]

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def search(
        self,
        terms: Sequence[str],
        *,
        after_seq: int | None,
        limit: int,
        languages: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Post]:
        """Posts containing any term (case-insensitive), after ``after_seq``, oldest first.

        Only posts created in ``[since, until)`` (each bound optional). A ``since`` before the
        world's start includes history (see the module docs) before the live posts.
        """
        folded = [t.casefold() for t in terms if t.strip()]
        langs = set(languages)
        since_ts = _ts(since) if since is not None else None
        until_ts = _ts(until) if until is not None else None
        found: list[Post] = []
        if since_ts is not None and since_ts < self.history_end:
            found = self._search_history(
                terms,
                folded=folded,
                langs=langs,
                after_seq=after_seq,
                limit=limit,
                since_ts=since_ts,
                until_ts=until_ts,
            )
            if len(found) >= limit or (until_ts is not None and until_ts <= self.history_end):
                return found
        with self._lock:
            start = 0 if after_seq is None else bisect.bisect_right(self._seqs, after_seq)
            for i in range(start, len(self._posts)):
                post = self._posts[i]
                if until_ts is not None and post.created >= until_ts + TICK_SECONDS:
                    break  # sequence numbers follow the ticks: nothing later is in range
                if post.deleted or (langs and post.language not in langs):
                    continue
                if since_ts is not None and post.created < since_ts:
                    continue
                if until_ts is not None and post.created >= until_ts:
                    continue
                if any(t in post.folded for t in folded):
                    found.append(post)
                    if len(found) >= limit:
                        break
            return found

    # --------------------------------------------------------- history

    @property
    def history_end(self) -> float:
        """Ticks that start before this time (seconds) are history."""
        return math.floor(self._started / TICK_SECONDS) * TICK_SECONDS

    def _search_history(
        self,
        terms: Sequence[str],
        *,
        folded: Sequence[str],
        langs: set[str],
        after_seq: int | None,
        limit: int,
        since_ts: float,
        until_ts: float | None,
    ) -> list[Post]:
        end = self.history_end if until_ts is None else min(self.history_end, until_ts)
        first = math.floor(since_ts / TICK_SECONDS)
        if after_seq is not None:
            first = max(first, after_seq // SEQ_PER_TICK)
        found: list[Post] = []
        tick = first
        while tick * TICK_SECONDS < end and len(found) < limit:
            for post in self.history_tick(tick, terms):
                if after_seq is not None and post.seq <= after_seq:
                    continue
                if not since_ts <= post.created < end or (langs and post.language not in langs):
                    continue
                if any(t in post.folded for t in folded):
                    found.append(post)
                    if len(found) >= limit:
                        break
            tick += 1
        return found

    def history_tick(self, tick: int, terms: Sequence[str] = ()) -> list[Post]:
        """The historical posts of ``tick`` (organic, and about each of ``terms``), by sequence number."""
        rng = random.Random(f"{self.seed}:history:{tick}")
        start = tick * TICK_SECONDS
        specs: list[tuple[float, _Spec]] = []
        for _ in range(_poisson(rng, POSTS_PER_TICK * self.activity)):
            at = start + rng.random() * TICK_SECONDS
            author = rng.choice(self.population)
            lang = author.language
            if self.brands and rng.random() < TOPIC_SHARE:
                topic = rng.choice(self.brands)
                crisis = self.crisis_at(datetime.fromtimestamp(at, UTC))
                sentiment = self._pick_sentiment(rng, crisis is not None and crisis.brand == topic)
                text = self._render(rng, rng.choice(content.BRAND_POSTS[(lang, sentiment)]), lang, topic)
                specs.append((at, _Spec(author, text, lang, sentiment, topic=topic)))
            else:
                text = self._render(rng, rng.choice(content.CHATTER[lang]), lang, None)
                specs.append((at, _Spec(author, text, lang, Sentiment.NEUTRAL)))
        specs.sort(key=lambda item: item[0])
        posts = [self._history_post(spec, at, tick * SEQ_PER_TICK + n) for n, (at, spec) in enumerate(specs)]
        unique = {" ".join(t.split()).casefold(): " ".join(t.split()) for t in terms if t.strip()}
        for term in unique.values():
            posts.extend(self._history_term_posts(tick, term))
        posts.sort(key=lambda post: post.seq)  # cursors are sequence numbers
        return posts

    def _history_term_posts(self, tick: int, term: str) -> list[Post]:
        key = term.casefold()
        rng = random.Random(f"{self.seed}:history:{tick}:{key}")
        slot = 1 + zlib.crc32(key.encode()) % HISTORY_TERM_SLOTS
        start = tick * TICK_SECONDS
        mean = POSTS_PER_TICK * self.activity * TOPIC_SHARE * TERM_SHARE
        specs = []
        for _ in range(min(HISTORY_BLOCK, _poisson(rng, mean))):
            at = start + rng.random() * TICK_SECONDS
            author = rng.choice(self.population)
            lang = author.language
            sentiment = self._pick_sentiment(rng, False)
            text = self._render(rng, rng.choice(content.BRAND_POSTS[(lang, sentiment)]), lang, term)
            specs.append((at, _Spec(author, text, lang, sentiment, topic=term)))
        specs.sort(key=lambda item: item[0])
        base = tick * SEQ_PER_TICK + slot * HISTORY_BLOCK
        return [self._history_post(spec, at, base + k) for k, (at, spec) in enumerate(specs)]

    def _history_post(self, spec: _Spec, at: float, seq: int) -> Post:
        rng = random.Random(f"{self.seed}:post:{seq}")
        reach = spec.author.followers
        expected_likes = 0.03 * reach**0.9 * spec.boost + 0.5
        return Post(
            seq=seq,
            external_id=str(seq),
            author=spec.author,
            text=spec.text,
            created=at,
            language=spec.language,
            sentiment=spec.sentiment,
            topic=spec.topic,
            crisis=spec.crisis,
            in_reply_to=None,
            reshare_of=None,
            depth=0,
            likes_total=int(rng.lognormvariate(math.log(expected_likes), 0.5)),
            views_total=int(reach * rng.uniform(0.2, 0.8)) + 10,
            hashtags=tuple(dict.fromkeys(_HASHTAG.findall(spec.text))),
            mentions=tuple(dict.fromkeys(_MENTION.findall(spec.text))),
            links=tuple(dict.fromkeys(_LINK.findall(spec.text))),
            folded=spec.text.casefold(),
        )

    # --------------------------------------------------------- listeners

    def add_listener(self, listener: Callable[[Post], None]) -> None:
        """Call ``listener(post)`` for every post the world creates from now on."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Post], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def counts(self, post: Post) -> Counts:
        """Engagement of ``post`` now: likes and views grow towards their totals, shares and replies count."""
        age = max(0.0, self._now - post.created)
        likes = int(post.likes_total * (1 - math.exp(-age / LIKES_TAU_SECONDS)))
        views = int(post.views_total * (1 - math.exp(-age / VIEWS_TAU_SECONDS)))
        return Counts(likes=likes, shares=post.shares, replies=post.replies, views=max(views, likes))

    # --------------------------------------------------------- the brand's own posts

    def published(self, handle: str, key: str) -> tuple[str, float] | None:
        """``(external_id, created)`` of the post published earlier with this idempotency key."""
        with self._lock:
            found = self._published.get((handle.lstrip("@"), key))
            return None if found is None else self._published_posts[found]

    def publish(
        self,
        handle: str,
        text: str,
        *,
        idempotency_key: str,
        media: tuple[Media, ...] = (),
        in_reply_to: str | None = None,
    ) -> tuple[str, float]:
        """Publish as ``handle`` now; the same key returns the same post, never a second one."""
        with self._lock:
            self.advance()
            account = self.account(handle)
            key = (account.handle, idempotency_key)
            existing = self._published.get(key)
            if existing is not None:
                return self._published_posts[existing]
            spec = _Spec(
                account,
                text,
                _guess_language(text),
                Sentiment.NEUTRAL,
                in_reply_to=in_reply_to,
                boost=BRAND_SHARE_BOOST,
                media=media,
            )
            post = self._create(spec, self._now)
            if in_reply_to is None:
                self._react_to_brand_post(post)
            self._published[key] = post.external_id
            self._published_posts[post.external_id] = (post.external_id, post.created)
            while len(self._published) > MAX_IDEMPOTENCY_KEYS:
                _, old = self._published.popitem(last=False)
                self._published_posts.pop(old, None)
            return post.external_id, post.created

    def delete(self, external_id: str) -> None:
        with self._lock:
            post = self._by_id.get(external_id)
            if post is not None:
                post.deleted = True


_GERMAN_HINTS = frozenset(
    ("der", "die", "das", "und", "ist", "nicht", "ein", "eine", "wir", "ihr", "euch", "unsere", "unser",
     "mit", "für", "auf", "heute", "jetzt", "neue", "neuen")
)  # fmt: skip


def _guess_language(text: str) -> str:
    words = re.findall(r"\w+", text.casefold())
    german = sum(1 for w in words if w in _GERMAN_HINTS) + sum(1 for ch in text if ch in "äöüßÄÖÜ")
    return "de" if german >= 1 else "en"


_SHARED: dict[int, SimulatedWorld] = {}
_SHARED_LOCK = threading.Lock()


def shared_world(
    seed: int,
    clock: Callable[[], Clock],
    *,
    brands: Sequence[str] = ("Resonanz", "Klangwerk"),
    retention: int = 20_000,
    activity: float = 1.0,
) -> SimulatedWorld:
    """The one world of ``seed`` in this process, created on first use with these arguments.

    Every :class:`~resonanz_simulated.network.SimulatedNetwork` of a process with the same seed sees
    this same world, so the publishing and listening services of the embedded default talk to one
    network. Later calls get the existing world; their arguments are ignored (``clock`` is called only
    to create it). Separate processes have separate worlds: with the same seed and clock they agree on
    the organic posts, but not on what was published through each of them.
    """
    with _SHARED_LOCK:
        world = _SHARED.get(seed)
        if world is None:
            world = SimulatedWorld(seed, clock(), brands=brands, retention=retention, activity=activity)
            _SHARED[seed] = world
        return world
