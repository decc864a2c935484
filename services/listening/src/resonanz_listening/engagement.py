"""Engagement tracking: counts of the brand's own posts and of collected mentions, refreshed on a
decaying schedule and sent to ``engagement.updates`` when they change.

What is tracked (one ``listening_tracked_items`` row per tenant, network and post):

* the brand's own posts: every ``PublishResult`` with status PUBLISHED on ``publish.results``
  (consumed with the sdk ``EventConsumer``; upserting the row makes redelivery harmless);
* collected mentions (``RESONANZ_ENGAGEMENT_TRACK_MENTIONS``): the ingest transaction that stores
  new mentions inserts their rows (:meth:`EngagementTracker.track_mentions`, a history hook), with
  the counts seen at collection as the last known counts.

Only networks whose manifest has ``Feature.ENGAGEMENT`` are tracked. The schedule
(``RESONANZ_ENGAGEMENT_SCHEDULE``, default 5 min, 15 min, 1 h, 6 h, 24 h, 3 d, 7 d) is measured
from the post's publication: a post is refreshed at the first schedule point still ahead, then at
each later one, and no more after the last. A refresh that comes late (back-off, downtime) does not
replay the points it missed: the next one is the first point after the measurement.

Refreshing (:meth:`EngagementTracker.refresh_once`, every ``RESONANZ_ENGAGEMENT_INTERVAL_SECONDS``):

1. **claim** due rows in one short transaction: rows with ``next_refresh_at <= now`` whose claim
   is free or expired get this replica's ``claim_token`` and ``claimed_until = now + claim time``.
   On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED`` (replicas never wait on each
   other); on SQLite the conditional ``UPDATE ... WHERE claim is free`` decides. Rows of networks
   that are backed off are not claimed;
2. per network, batches of ``RESONANZ_ENGAGEMENT_BATCH_SIZE`` ids go to ``network.engagement(ids)``,
   each call first taking a token from the network's ``engagement`` rate limit (its manifest);
3. per batch, one transaction: rows whose claim is still ours get the new counts, the next refresh
   time and, **only when the counts changed** (or were never known), an outbox row with the
   ``EngagementUpdated`` envelope (key ``<network>:<external_id>``), which the outbox relay sends;
   a post the network no longer knows (deleted) stops being tracked.

A 429 (``RateLimitedError``) or another transient error backs the network off for ``retry_after``
(else exponentially from the interval up to 15 min) and releases its claims without touching
``next_refresh_at``: the posts stay due and are refreshed when the network lets us; an empty rate
limit bucket does the same for the rest of the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import Counter
from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz.common.v1.mention_pb2 import EngagementCounts, Mention
from resonanz.events.v1.events_pb2 import EngagementSubject, EngagementUpdated
from resonanz_sdk.errors import ConfigurationError, NetworkError, TransientNetworkError
from resonanz_sdk.eventbus import ReceivedEvent, Topic, new_envelope
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Engagement, Network
from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening import convert
from resonanz_listening.models import OutboxRow, TrackedItemRow

log = logging.getLogger(__name__)

ENGAGEMENT_REFRESHES = Counter(
    "resonanz_engagement_refreshes",
    "Engagement measurements of tracked posts, by outcome (changed, unchanged, gone, deferred, failed).",
    ["network", "outcome"],
)

_TRACKED_TABLE = cast("Table", TrackedItemRow.__table__)

#: Longest back-off of a network after repeated transient failures.
MAX_BACKOFF_SECONDS = 900.0


def parse_schedule(spec: str) -> tuple[timedelta, ...]:
    """``"300,900,3600"`` -> offsets after publication; raises ConfigurationError when malformed."""
    try:
        seconds = [float(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(
            f"RESONANZ_ENGAGEMENT_SCHEDULE must be comma-separated seconds, not {spec!r}"
        ) from None
    if not seconds or any(s <= 0 for s in seconds) or sorted(set(seconds)) != seconds:
        raise ConfigurationError(
            f"RESONANZ_ENGAGEMENT_SCHEDULE must be increasing positive seconds, not {spec!r}"
        )
    return tuple(timedelta(seconds=s) for s in seconds)


@dataclass(frozen=True)
class Schedule:
    """Refresh points, as offsets after a post's publication."""

    offsets: tuple[timedelta, ...]

    def next_after(self, published_at: datetime, now: datetime) -> datetime | None:
        """The first refresh point after ``now``; None when the schedule is over."""
        published = convert.aware(published_at)
        for offset in self.offsets:
            if published + offset > now:
                return published + offset
        return None


class _Bucket:
    """A token bucket: ``rate`` tokens per second up to ``capacity``; refuses instead of waiting."""

    def __init__(self, requests: int, per_seconds: float) -> None:
        self.capacity = float(max(1, requests))
        self.rate = requests / per_seconds
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _counts(value: Engagement | EngagementCounts) -> tuple[int, int, int, int, int]:
    return (value.likes, value.shares, value.replies, value.quotes, value.views)


def _stored_counts(row: TrackedItemRow) -> tuple[int, int, int, int, int] | None:
    """The last known counts; None when the post was never measured."""
    if row.likes is None or row.shares is None or row.replies is None:
        return None
    if row.quotes is None or row.views is None:
        return None
    return (row.likes, row.shares, row.replies, row.quotes, row.views)


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class EngagementTracker:
    """Tracks posts and refreshes their engagement; one per replica (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        networks: Mapping[str, Network],
        *,
        schedule: Schedule,
        batch_size: int = 100,
        claim_seconds: float = 60.0,
        interval: float = 5.0,
        track_mentions: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._networks = networks
        self.schedule = schedule
        self._batch_size = batch_size
        self._claim = timedelta(seconds=claim_seconds)
        self._interval = interval
        self._track_mentions = track_mentions
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._backoff_until: dict[str, float] = {}
        self._failures: dict[str, int] = defaultdict(int)
        self.replica = uuid.uuid4().hex

    def tracks(self, network: str) -> bool:
        instance = self._networks.get(network)
        return instance is not None and instance.manifest.supports(Feature.ENGAGEMENT)

    # -- what is tracked ---------------------------------------------------------------------

    async def track_mentions(self, session: AsyncSession, mentions: Sequence[Mention]) -> None:
        """History hook: track newly stored mentions (same transaction, one executemany)."""
        if not self._track_mentions:
            return
        now = self._clock()
        rows: list[dict[str, Any]] = []
        for mention in mentions:
            if not self.tracks(mention.network):
                continue
            published = convert.from_timestamp(mention.published_at)
            due = self.schedule.next_after(published, now)
            if due is None:
                continue
            likes, shares, replies, quotes, views = _counts(mention.engagement)
            rows.append(
                {
                    "tenant": mention.tenant,
                    "network": mention.network,
                    "external_id": mention.external_id,
                    "subject": EngagementSubject.ENGAGEMENT_SUBJECT_MENTION,
                    "post_id": "",
                    "campaign_id": "",
                    "account": "",
                    "published_at": published,
                    "tracked_at": now,
                    "next_refresh_at": due,
                    "refreshes": 0,
                    "likes": likes,
                    "shares": shares,
                    "replies": replies,
                    "quotes": quotes,
                    "views": views,
                    "measured_at": now,
                }
            )
        if not rows:
            return
        insert = _insert(session.get_bind().dialect.name)
        # One executemany (a cached statement); the brand's own post may be tracked already
        # (publish.results came first): that row is kept.
        await session.execute(
            insert(_TRACKED_TABLE).on_conflict_do_nothing(
                index_elements=["tenant", "network", "external_id"]
            ),
            rows,
        )

    async def handle_publish_results(self, events: Sequence[ReceivedEvent]) -> None:
        """``publish.results`` batch handler: track every PUBLISHED post (idempotent upserts)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            insert = _insert(session.get_bind().dialect.name)
            for event in events:
                if event.envelope.WhichOneof("payload") != "publish_result":
                    continue
                result = event.envelope.publish_result
                if result.status != TargetStatus.TARGET_STATUS_PUBLISHED or not result.external_id:
                    continue
                if not self.tracks(result.network):
                    log.debug(
                        "not tracking %s post %s: no engagement support", result.network, result.post_id
                    )
                    continue
                published = (
                    convert.from_timestamp(result.published_at) if result.HasField("published_at") else now
                )
                due = self.schedule.next_after(published, now)
                own = {
                    "subject": EngagementSubject.ENGAGEMENT_SUBJECT_OWN_POST,
                    "post_id": result.post_id,
                    "campaign_id": result.campaign_id,
                    "account": result.account,
                }
                stmt = insert(TrackedItemRow).values(
                    tenant=event.envelope.tenant,
                    network=result.network,
                    external_id=result.external_id,
                    published_at=published,
                    tracked_at=now,
                    next_refresh_at=due,
                    refreshes=0,
                    **own,
                )
                # Already tracked as a mention (or redelivered): it is the brand's own post.
                await session.execute(
                    stmt.on_conflict_do_update(index_elements=["tenant", "network", "external_id"], set_=own)
                )

    # -- refreshing --------------------------------------------------------------------------

    def _backed_off(self) -> set[str]:
        now = time.monotonic()
        return {network for network, until in self._backoff_until.items() if until > now}

    def _back_off(self, network: str, retry_after: float | None) -> None:
        self._failures[network] += 1
        exponential = min(MAX_BACKOFF_SECONDS, self._interval * 2 ** self._failures[network])
        delay = retry_after if retry_after is not None else exponential * random.uniform(0.8, 1.2)
        self._backoff_until[network] = time.monotonic() + max(0.0, delay)

    def _bucket(self, network: Network) -> _Bucket | None:
        limits = network.manifest.rate_limit("engagement")
        if not limits:
            return None
        name = network.manifest.network
        if name not in self._buckets:
            strictest = min(limits, key=lambda r: r.requests / r.per_seconds)
            self._buckets[name] = _Bucket(strictest.requests, strictest.per_seconds)
        return self._buckets[name]

    async def _claim_due(self, now: datetime, limit: int) -> list[TrackedItemRow]:
        networks = [n for n in self._networks if self.tracks(n) and n not in self._backed_off()]
        if not networks:
            return []
        token = uuid.uuid4().hex
        free = or_(TrackedItemRow.claimed_until.is_(None), TrackedItemRow.claimed_until < now)
        async with self._sessions() as session, session.begin():
            candidates = list(
                await session.scalars(
                    select(TrackedItemRow.id)
                    .where(
                        TrackedItemRow.next_refresh_at <= now,
                        TrackedItemRow.network.in_(networks),
                        free,
                    )
                    .order_by(TrackedItemRow.next_refresh_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not candidates:
                return []
            await session.execute(
                update(TrackedItemRow)
                .where(TrackedItemRow.id.in_(candidates), free)
                .values(claim_token=token, claimed_until=now + self._claim)
            )
            return list(
                await session.scalars(
                    select(TrackedItemRow)
                    .where(TrackedItemRow.claim_token == token)
                    .order_by(TrackedItemRow.next_refresh_at)
                )
            )

    async def _release(self, items: Sequence[TrackedItemRow]) -> None:
        """Give claims back untouched (the rows stay due)."""
        if not items:
            return
        by_token: dict[str | None, list[int]] = defaultdict(list)
        for item in items:
            by_token[item.claim_token].append(item.id)
        async with self._sessions() as session, session.begin():
            for token, ids in by_token.items():
                await session.execute(
                    update(TrackedItemRow)
                    .where(TrackedItemRow.id.in_(ids), TrackedItemRow.claim_token == token)
                    .values(claim_token=None, claimed_until=None)
                )

    async def _store(self, items: Sequence[TrackedItemRow], found: Mapping[str, Engagement]) -> int:
        """Write one batch's measurements (rows still claimed by us only); returns updates emitted."""
        now = self._clock()
        emitted = 0
        async with self._sessions() as session, session.begin():
            for item in items:
                mine = and_(TrackedItemRow.id == item.id, TrackedItemRow.claim_token == item.claim_token)
                counts = found.get(item.external_id)
                if counts is None:  # the network no longer has the post
                    await session.execute(
                        update(TrackedItemRow)
                        .where(mine)
                        .values(next_refresh_at=None, claim_token=None, claimed_until=None)
                    )
                    ENGAGEMENT_REFRESHES.labels(network=item.network, outcome="gone").inc()
                    continue
                new = _counts(counts)
                changed = _stored_counts(item) != new
                likes, shares, replies, quotes, views = new
                result = await session.execute(
                    update(TrackedItemRow)
                    .where(mine)
                    .values(
                        likes=likes,
                        shares=shares,
                        replies=replies,
                        quotes=quotes,
                        views=views,
                        measured_at=now,
                        refreshes=TrackedItemRow.refreshes + 1,
                        next_refresh_at=self.schedule.next_after(item.published_at, now),
                        claim_token=None,
                        claimed_until=None,
                    )
                )
                if getattr(result, "rowcount", 0) != 1:
                    continue  # our claim expired and another replica took the row
                ENGAGEMENT_REFRESHES.labels(
                    network=item.network, outcome="changed" if changed else "unchanged"
                ).inc()
                if changed:
                    session.add(self._outbox_row(item, counts, now))
                    emitted += 1
        return emitted

    @staticmethod
    def _outbox_row(item: TrackedItemRow, counts: Engagement, now: datetime) -> OutboxRow:
        mention_id = convert.mention_id(item.network, item.external_id)
        update_ = EngagementUpdated(
            network=item.network,
            external_id=item.external_id,
            engagement=EngagementCounts(
                likes=counts.likes,
                shares=counts.shares,
                replies=counts.replies,
                quotes=counts.quotes,
                views=counts.views,
            ),
            measured_at=convert.timestamp(now),
            mention_id=mention_id,
            subject=item.subject,  # type: ignore[arg-type]
            post_id=item.post_id,
            campaign_id=item.campaign_id,
            account=item.account,
            published_at=convert.timestamp(item.published_at),
        )
        envelope = new_envelope(item.tenant, update_)
        return OutboxRow(
            tenant=item.tenant,
            topic=str(Topic.ENGAGEMENT_UPDATES),
            key=mention_id,
            envelope=envelope.SerializeToString(),
            created_at=now,
            sent=False,
        )

    async def _refresh_network(self, name: str, items: list[TrackedItemRow]) -> int:
        network = self._networks[name]
        bucket = self._bucket(network)
        emitted = 0
        for start in range(0, len(items), self._batch_size):
            batch = items[start : start + self._batch_size]
            if bucket is not None and not bucket.take():
                ENGAGEMENT_REFRESHES.labels(network=name, outcome="deferred").inc(len(items) - start)
                await self._release(items[start:])
                return emitted
            try:
                found = await network.engagement([item.external_id for item in batch])
            except TransientNetworkError as exc:  # includes RateLimitedError (429)
                log.warning("engagement of %d %s posts deferred: %s", len(items) - start, name, exc)
                self._back_off(name, exc.retry_after)
                ENGAGEMENT_REFRESHES.labels(network=name, outcome="deferred").inc(len(items) - start)
                await self._release(items[start:])
                return emitted
            except NetworkError as exc:
                log.warning("engagement of %d %s posts failed: %s", len(items) - start, name, exc)
                self._back_off(name, None)
                ENGAGEMENT_REFRESHES.labels(network=name, outcome="failed").inc(len(items) - start)
                await self._release(items[start:])
                return emitted
            self._failures.pop(name, None)
            emitted += await self._store(batch, found)
        return emitted

    async def refresh_once(self, *, limit: int = 1000) -> int:
        """Claim what is due and measure it; returns how many updates were written to the outbox."""
        items = await self._claim_due(self._clock(), limit)
        by_network: dict[str, list[TrackedItemRow]] = defaultdict(list)
        for item in items:
            by_network[item.network].append(item)
        emitted = 0
        for name, group in by_network.items():
            try:
                emitted += await self._refresh_network(name, group)
            except Exception:  # a plugin bug must not stop the tracker (its claims expire)
                log.exception("engagement refresh of %s failed", name)
                self._back_off(name, None)
        return emitted

    async def run(self, stopping: asyncio.Event, flush: Callable[[], Any] | None = None) -> None:
        """Refresh every interval until ``stopping`` is set; ``flush`` sends the outbox after a tick."""
        while not stopping.is_set():
            try:
                if await self.refresh_once() and flush is not None:
                    await flush()
            except Exception:
                log.exception("engagement tick failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._interval)
