"""Engagement tracking on both databases and the real broker.

Time is a ``ManualClock`` shared by the simulated world and the tracker, so the decaying schedule is
walked step by step without sleeping. ``FixedCountsNetwork`` is a minimal network whose counts the
test sets (a test double of a plugin, for "unchanged counts emit nothing" and 429s, which the
simulated world's ever-growing counts cannot show).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from listening_helpers import eventually, plugin_manager
from listening_history_helpers import History, open_history, raw
from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz.events.v1.events_pb2 import EngagementSubject, EventEnvelope, PublishResult
from resonanz_listening.app import ListeningApp
from resonanz_listening.engagement import EngagementTracker, Schedule, parse_schedule
from resonanz_listening.models import OutboxRow, TrackedItemRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_sdk.errors import ConfigurationError, RateLimitedError
from resonanz_sdk.eventbus import EventConsumer, EventProducer, Topic, ensure_topics, new_envelope, topic_name
from resonanz_sdk.manifest import Feature, Manifest, RateLimit, RateLimitScope, TextRules
from resonanz_sdk.network import AccountRef, Engagement, Network, OutgoingPost
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock, ScaledClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld
from sqlalchemy import func, select

pytestmark = pytest.mark.integration

BRAND = AccountRef(network="simulated", handle="resonanz_de")
START = datetime.now(UTC).replace(microsecond=0)
SCHEDULE = "300,900,3600"


class FixedCountsNetwork(Network):
    """Engagement only: ``counts[external_id]``; ``failures`` are raised by the next calls."""

    def __init__(self, name: str = "fixed", *, engagement: bool = True, per_minute: int = 1000) -> None:
        features = frozenset({Feature.SEARCH, Feature.ENGAGEMENT} if engagement else {Feature.SEARCH})
        self._manifest = Manifest(
            network=name,
            display_name=name,
            features=features,
            text=TextRules(500),
            rate_limits=(RateLimit("engagement", per_minute, 60.0, RateLimitScope.APP),),
        )
        self.counts: dict[str, Engagement] = {}
        self.failures: list[Exception] = []
        self.calls: list[list[str]] = []

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def engagement(self, external_ids: Sequence[str]) -> Mapping[str, Engagement]:
        self.calls.append(list(external_ids))
        if self.failures:
            raise self.failures.pop(0)
        return {i: self.counts[i] for i in external_ids if i in self.counts}


def tracker_for(history: History, clock: ManualClock, networks: Mapping[str, Network]) -> EngagementTracker:
    return EngagementTracker(
        history.sessions,
        networks,
        schedule=Schedule(parse_schedule(SCHEDULE)),
        batch_size=2,
        claim_seconds=60,
        interval=0.05,
        clock=clock.now,
    )


@pytest.fixture
async def history(database_url: str) -> AsyncIterator[History]:
    h = await open_history(database_url, serve=False)
    try:
        yield h
    finally:
        await h.close()


async def tracked(history: History) -> list[TrackedItemRow]:
    async with history.sessions() as session:
        return list(await session.scalars(select(TrackedItemRow).order_by(TrackedItemRow.id)))


async def outbox_updates(history: History) -> int:
    async with history.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.topic == str(Topic.ENGAGEMENT_UPDATES))
        )
    return int(count or 0)


async def read_updates(bootstrap: str, prefix: str, count: int) -> list[EventEnvelope]:
    consumer = AIOKafkaConsumer(
        topic_name(Topic.ENGAGEMENT_UPDATES, prefix),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    envelopes: list[EventEnvelope] = []
    try:
        async with asyncio.timeout(20):
            while len(envelopes) < count:
                batches = await consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    envelopes.extend(EventEnvelope.FromString(r.value) for r in records)
    finally:
        await consumer.stop()
    return envelopes


def test_schedule() -> None:
    schedule = Schedule(parse_schedule("300,900,3600"))
    assert schedule.next_after(START, START) == START + timedelta(seconds=300)
    assert schedule.next_after(START, START + timedelta(seconds=300)) == START + timedelta(seconds=900)
    # A late refresh does not replay the points it missed.
    assert schedule.next_after(START, START + timedelta(seconds=1000)) == START + timedelta(seconds=3600)
    assert schedule.next_after(START, START + timedelta(seconds=3600)) is None
    for bad in ("", "a,b", "300,100", "0,5", "5,5"):
        with pytest.raises(ConfigurationError):
            parse_schedule(bad)


async def test_own_post_is_tracked_until_the_schedule_ends(
    history: History, kafka_bootstrap: str, topic_prefix: str
) -> None:
    clock = ManualClock(START)
    network = SimulatedNetwork(SimulatedWorld(42, clock), settings=Settings(simulated_faults=""))
    tracker = tracker_for(history, clock, {"simulated": network})
    published = await network.publish(
        BRAND, OutgoingPost(text="Neue Kollektion von Resonanz! #Resonanz", idempotency_key="k1")
    )
    await ensure_topics(
        kafka_bootstrap, [Topic.PUBLISH_RESULTS, Topic.ENGAGEMENT_UPDATES], prefix=topic_prefix
    )
    async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as producer:
        result = PublishResult(
            post_id="post-1",
            network="simulated",
            account=BRAND.handle,
            status=TargetStatus.TARGET_STATUS_PUBLISHED,
            external_id=published.external_id,
            campaign_id="summer",
        )
        result.published_at.FromDatetime(published.published_at)
        failed = PublishResult(
            post_id="post-2", network="simulated", status=TargetStatus.TARGET_STATUS_FAILED, external_id=""
        )
        for message in (result, failed, result):  # a redelivered result changes nothing
            await producer.publish(Topic.PUBLISH_RESULTS, new_envelope("acme", message), key=message.post_id)
        consumer = EventConsumer(
            kafka_bootstrap,
            group_id=f"{topic_prefix}engagement",
            topics=[Topic.PUBLISH_RESULTS],
            handler=tracker.handle_publish_results,
            producer=producer,
            prefix=topic_prefix,
        )
        async with consumer:
            seen = 0

            async def all_consumed() -> bool:
                nonlocal seen
                seen += await consumer.poll_once()
                return seen >= 3

            await eventually(all_consumed)

        [item] = await tracked(history)
        assert item.subject == EngagementSubject.ENGAGEMENT_SUBJECT_OWN_POST
        assert (item.tenant, item.post_id, item.campaign_id) == ("acme", "post-1", "summer")
        assert item.next_refresh_at is not None
        assert item.next_refresh_at.replace(tzinfo=UTC) == published.published_at + timedelta(seconds=300)

        relay = OutboxRelay(history.sessions, producer)
        assert await tracker.refresh_once() == 0  # nothing is due yet
        emitted = 0
        for offset in (300, 900, 3600):
            clock.set(published.published_at + timedelta(seconds=offset + 1))
            emitted += await tracker.refresh_once()
            await relay.flush()
        [item] = await tracked(history)
        assert item.refreshes == 3
        assert item.next_refresh_at is None  # the schedule is over
        clock.advance(7 * 86400)
        assert await tracker.refresh_once() == 0
        assert 1 <= emitted == await outbox_updates(history)

    updates = await read_updates(kafka_bootstrap, topic_prefix, emitted)
    assert len(updates) == emitted
    first = updates[0].engagement_updated
    assert updates[0].tenant == "acme"
    assert first.subject == EngagementSubject.ENGAGEMENT_SUBJECT_OWN_POST
    assert first.mention_id == f"simulated:{published.external_id}"
    assert (first.post_id, first.campaign_id, first.account) == ("post-1", "summer", BRAND.handle)
    views = [u.engagement_updated.engagement.views for u in updates]
    assert views == sorted(views)


async def test_mentions_are_tracked_and_unchanged_counts_emit_nothing(history: History) -> None:
    clock = ManualClock(START)
    fixed = FixedCountsNetwork()
    other = FixedCountsNetwork("noengagement", engagement=False)
    tracker = tracker_for(history, clock, {"fixed": fixed, "noengagement": other})
    history.hooks._track = tracker.track_mentions  # the app wires it the same way
    counts = Engagement(likes=5, shares=1, views=50)
    mention = raw("acme rocks", published_at=START, external_id="m1", engagement=counts)
    old = raw("acme old", published_at=START - timedelta(days=1), external_id="m2")
    await history.ingest("acme", [mention, old], network="fixed")
    await history.ingest("acme", [raw("acme elsewhere", published_at=START)], network="noengagement")
    [item] = await tracked(history)  # the day-old mention is past the schedule; no engagement support
    assert (item.external_id, item.subject) == ("m1", EngagementSubject.ENGAGEMENT_SUBJECT_MENTION)
    assert (item.likes, item.views) == (5, 50)

    fixed.counts["m1"] = counts
    clock.set(START + timedelta(seconds=301))
    assert await tracker.refresh_once() == 0  # measured, unchanged: nothing emitted
    assert fixed.calls == [["m1"]]
    fixed.counts["m1"] = Engagement(likes=9, shares=1, views=80)
    clock.set(START + timedelta(seconds=901))
    assert await tracker.refresh_once() == 1
    assert await outbox_updates(history) == 1
    del fixed.counts["m1"]  # deleted on the network: tracking stops
    clock.set(START + timedelta(seconds=3601))
    assert await tracker.refresh_once() == 0
    [item] = await tracked(history)
    assert item.next_refresh_at is None
    assert item.refreshes == 2


async def test_a_429_keeps_the_schedule(history: History) -> None:
    clock = ManualClock(START)
    fixed = FixedCountsNetwork()
    tracker = tracker_for(history, clock, {"fixed": fixed})
    history.hooks._track = tracker.track_mentions
    await history.ingest(
        "acme", [raw("acme", published_at=START, external_id=f"r{i}") for i in range(3)], network="fixed"
    )
    fixed.counts.update({f"r{i}": Engagement(likes=i + 10) for i in range(3)})
    clock.set(START + timedelta(seconds=301))
    fixed.failures.append(RateLimitedError("fixed", "slow down", retry_after=0))
    assert await tracker.refresh_once() == 0
    items = await tracked(history)
    assert all(i.refreshes == 0 and i.claim_token is None for i in items)
    assert {i.next_refresh_at.replace(tzinfo=UTC) for i in items if i.next_refresh_at} == {
        START + timedelta(seconds=300)
    }
    assert await tracker.refresh_once() == 3  # retry_after passed: all three measured now
    assert [len(c) for c in fixed.calls] == [2, 2, 1]  # batches of two
    assert all(i.refreshes == 1 for i in await tracked(history))


async def test_one_replica_claims_a_due_post(history: History) -> None:
    clock = ManualClock(START)
    fixed = FixedCountsNetwork()
    first = tracker_for(history, clock, {"fixed": fixed})
    second = tracker_for(history, clock, {"fixed": fixed})
    history.hooks._track = first.track_mentions
    await history.ingest("acme", [raw("acme", published_at=START, external_id="c1")], network="fixed")
    clock.set(START + timedelta(seconds=301))
    claimed = await first._claim_due(clock.now(), 10)
    assert [c.external_id for c in claimed] == ["c1"]
    assert await second._claim_due(clock.now(), 10) == []
    clock.advance(61)  # the first replica died holding the claim: it expires
    taken = await second._claim_due(clock.now(), 10)
    assert [c.external_id for c in taken] == ["c1"]
    fixed.counts["c1"] = Engagement(likes=1)
    # The first replica's late write is refused: its claim is no longer the row's.
    assert await first._store(claimed, fixed.counts) == 0
    assert await second._store(taken, fixed.counts) == 1


async def test_the_app_tracks_published_posts_end_to_end(
    kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    """ListeningApp with the simulated network: a PUBLISHED result on publish.results -> updates on
    engagement.updates, and the post leaves the schedule (a short one, in real time)."""
    network = SimulatedNetwork(SimulatedWorld(7, ScaledClock(1.0)), settings=Settings(simulated_faults=""))
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        listening_port=0,
        metrics_port=0,
        poll_interval_seconds=0.1,
        plugins="",
        engagement_schedule="0.2,0.4,0.6",
        engagement_interval_seconds=0.05,
    )
    app = ListeningApp(settings, plugin_manager(network))
    await app.start()
    try:
        # The schedule is far shorter than a consumer-group join: publish once the app listens.
        async with asyncio.timeout(30):
            await app.engagement_consumer_ready.wait()
        published = await network.publish(
            BRAND, OutgoingPost(text="Resonanz Sommer #Resonanz", idempotency_key="e2e")
        )
        result = PublishResult(
            post_id="post-e2e",
            network="simulated",
            account=BRAND.handle,
            status=TargetStatus.TARGET_STATUS_PUBLISHED,
            external_id=published.external_id,
        )
        result.published_at.FromDatetime(published.published_at)
        async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as producer:
            await producer.publish(Topic.PUBLISH_RESULTS, new_envelope("acme", result), key="post-e2e")
        assert app.engagement is not None
        sessions = app.engagement._sessions

        async def schedule_over() -> bool:
            async with sessions() as session:
                item = await session.scalar(select(TrackedItemRow))
            return item is not None and item.next_refresh_at is None and item.refreshes >= 1

        await eventually(schedule_over, within=30)
        async with sessions() as session:
            outbox = list(
                await session.scalars(
                    select(OutboxRow).where(OutboxRow.topic == str(Topic.ENGAGEMENT_UPDATES))
                )
            )

        async def all_sent() -> bool:
            async with sessions() as session:
                unsent = await session.scalar(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.sent.is_(False))
                )
            return bool(unsent == 0)

        await eventually(all_sent)
    finally:
        await app.stop()
    assert outbox  # the first measurement of an own post is always sent
    updates = await read_updates(kafka_bootstrap, topic_prefix, len(outbox))
    assert {u.engagement_updated.post_id for u in updates} == {"post-e2e"}
    assert {u.tenant for u in updates} == {"acme"}


async def test_the_rate_limit_defers_what_it_cannot_measure(history: History) -> None:
    clock = ManualClock(START)
    fixed = FixedCountsNetwork(per_minute=1)  # one engagement() call a minute
    tracker = tracker_for(history, clock, {"fixed": fixed})
    history.hooks._track = tracker.track_mentions
    posts = [raw("acme", published_at=START, external_id=f"b{i}") for i in range(4)]
    await history.ingest("acme", posts, network="fixed")
    fixed.counts.update({f"b{i}": Engagement(likes=1) for i in range(4)})
    clock.set(START + timedelta(seconds=301))
    assert await tracker.refresh_once() == 2  # one call (a batch of two), the other two deferred
    assert len(fixed.calls) == 1
    items = await tracked(history)
    assert sorted(i.refreshes for i in items) == [0, 0, 1, 1]
    deferred = [i for i in items if i.refreshes == 0]
    assert all(i.claim_token is None for i in deferred)  # released, still due at the same point
    assert {i.next_refresh_at.replace(tzinfo=UTC) for i in deferred if i.next_refresh_at} == {
        START + timedelta(seconds=300)
    }
