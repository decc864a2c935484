"""Crisis detection per label: buckets, one alert per crisis, outbox, redelivery, ticks.

The processor runs against the real databases and the real broker (alerts go to the ``alerts``
topic); its faust table is a plain dict here. The faust path (changelog recovery across an app
restart) is tested in test_scoring_crisis_stream.py.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import ALERTS
from resonanz_scoring.models import metadata
from resonanz_scoring.streams.crisis import (
    AlertSink,
    CrisisProcessor,
    label_activity_events,
    spike_config,
)
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics
from resonanz_sdk.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BUCKET = timedelta(minutes=1)
TENANT = "acme"
ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]


@pytest.fixture
def crisis_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "alert_bucket_seconds": 60.0,
            "alert_warmup_buckets": 10,
            "alert_cooldown_buckets": 5,
            "alert_grace_seconds": 10.0,
        }
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def sink(settings: Settings, engine: AsyncEngine, producer: EventProducer) -> AlertSink:
    await ensure_topics(settings.kafka_bootstrap, [Topic.ALERTS], prefix=settings.topic_prefix)
    return AlertSink(engine, producer)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def item(n: int, at: datetime, *, negative: bool, reach: int = 100, label: str = "Acme") -> ScoredItem:
    mention = mention_pb2.Mention(id=f"sim:{label}:{n}", network="sim", labels=[label], text="x")
    mention.published_at.FromDatetime(at)
    score = score_pb2.MentionScore(
        mention_id=mention.id,
        tenant=TENANT,
        sentiment=score_pb2.SENTIMENT_NEGATIVE if negative else score_pb2.SENTIMENT_NEUTRAL,
        estimated_reach=reach,
    )
    score.scored_at.FromDatetime(at)
    return ScoredItem(TENANT, mention, score)


def wave(buckets: int, *, start: int = 0, seed: int = 7, crisis: range = range(0)) -> list[list[ScoredItem]]:
    """One batch per bucket: about 20 mentions with 1-3 negative; 40 extra negative in ``crisis``."""
    rng = random.Random(seed)
    batches = []
    n = start * 1000
    for b in range(start, start + buckets):
        at = T0 + b * BUCKET
        batch = []
        negatives = rng.randint(1, 3) + (40 if b in crisis else 0)
        for i in range(rng.randint(18, 22) + negatives):
            n += 1
            batch.append(
                item(n, at + timedelta(seconds=i % 60), negative=i < negatives, reach=100 + (n * 37) % 900)
            )
        batches.append(batch)
    return batches


async def feed(processor: CrisisProcessor, batches: list[list[ScoredItem]]) -> list[events_pb2.Alert]:
    raised: list[events_pb2.Alert] = []
    for batch in batches:
        for _, envelope in label_activity_events(batch, BUCKET):
            raised += await processor.activity(TENANT, envelope.event_id, envelope.label_activity, 0)
    return raised


def test_observer_sums_per_label_and_bucket_with_samples_and_a_stable_id() -> None:
    batch = [
        item(1, T0, negative=True, reach=500),
        item(2, T0 + timedelta(seconds=30), negative=True, reach=900),
        item(3, T0 + timedelta(seconds=61), negative=False),
        item(4, T0, negative=True, reach=10, label="Rival"),
    ]
    events = label_activity_events(batch, BUCKET)
    assert [key for key, _ in events] == [b"acme\x00Acme", b"acme\x00Rival"]
    activity = events[0][1].label_activity
    assert [(d.mentions, d.negative, d.negative_reach) for d in activity.buckets] == [(2, 2, 1400), (1, 0, 0)]
    assert [s.mention_id for s in activity.buckets[0].samples] == ["sim:Acme:2", "sim:Acme:1"]
    assert activity.latest.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=61)
    assert label_activity_events(batch, BUCKET)[0][1].event_id == events[0][1].event_id


async def test_a_negative_wave_over_a_steady_baseline_raises_exactly_one_alert(
    crisis_settings: Settings, sink: AlertSink, engine: AsyncEngine, read_topic: ReadTopic
) -> None:
    states: dict[str, Any] = {}
    clock = Clock(T0 + timedelta(minutes=40, seconds=5))
    processor = CrisisProcessor(
        states, sink, spike_config(crisis_settings), grace=timedelta(seconds=10), clock=clock
    )
    raised = await feed(processor, wave(40, crisis=range(20, 25)))
    assert len(raised) == 1
    alert = raised[0]
    assert alert.kind == events_pb2.ALERT_KIND_NEGATIVE_SPIKE
    assert alert.window_start.ToDatetime(tzinfo=UTC) == T0 + 20 * BUCKET
    assert alert.observed >= 41
    assert alert.z_score >= 4.0
    assert alert.severity in {events_pb2.ALERT_SEVERITY_WARNING, events_pb2.ALERT_SEVERITY_CRITICAL}
    assert len(alert.sample_mention_ids) == 5
    async with engine.connect() as conn:
        rows = (await conn.execute(select(ALERTS))).mappings().all()
    assert [row["id"] for row in rows] == [alert.id]
    assert events_pb2.Alert.FromString(rows[0]["alert"]) == alert
    records = await read_topic(Topic.ALERTS, 1, 5.0)
    assert len(records) == 1
    envelope = events_pb2.EventEnvelope.FromString(records[0].value)
    assert envelope.alert == alert
    assert envelope.event_id == alert.id
    assert records[0].key == b"acme:Acme"


async def test_noise_raises_nothing_and_two_separate_waves_raise_two(
    crisis_settings: Settings, sink: AlertSink
) -> None:
    config = spike_config(crisis_settings)
    quiet = CrisisProcessor(
        {}, sink, config, grace=timedelta(seconds=10), clock=Clock(T0 + timedelta(hours=2))
    )
    assert await feed(quiet, wave(60, seed=3)) == []
    twice = CrisisProcessor(
        {}, sink, config, grace=timedelta(seconds=10), clock=Clock(T0 + timedelta(hours=2))
    )
    raised = await feed(twice, wave(70, seed=5, crisis=range(20, 23)))
    raised += await feed(twice, wave(1, start=70))  # nothing more until the second wave
    assert len(raised) == 1
    second = await feed(twice, wave(30, start=71, seed=9, crisis=range(90, 93)))
    assert len(second) == 1
    assert second[0].window_start.ToDatetime(tzinfo=UTC) == T0 + 90 * BUCKET


async def test_state_survives_a_restart_and_a_redelivery_counts_once(
    crisis_settings: Settings, sink: AlertSink
) -> None:
    config = spike_config(crisis_settings)
    clock = Clock(T0 + timedelta(hours=1))
    states: dict[str, Any] = {}
    batches = wave(40, crisis=range(20, 30))
    first = CrisisProcessor(states, sink, config, grace=timedelta(seconds=10), clock=clock)
    assert len(await feed(first, batches[:23])) == 1
    restarted = CrisisProcessor(dict(states), sink, config, grace=timedelta(seconds=10), clock=clock)
    # The same batches again (redelivered) and the rest of the same crisis: no second alert.
    assert await feed(restarted, batches[18:]) == []
    state = restarted.states["acme\x00Acme"]
    assert state["outbox"] == []


async def test_a_quiet_label_closes_its_buckets_on_the_tick(
    crisis_settings: Settings, sink: AlertSink
) -> None:
    config = spike_config(crisis_settings)
    clock = Clock(T0 + timedelta(minutes=30, seconds=5))
    processor = CrisisProcessor({}, sink, config, grace=timedelta(seconds=10), clock=clock)
    batches = wave(31, crisis=range(30, 31))
    assert await feed(processor, batches) == []  # the crisis bucket is still open (watermark)
    assert await processor.tick(partition=1) == []  # another partition's tick changes nothing
    assert await processor.tick(partition=0) == []  # not quiet for the grace period yet
    clock.now += timedelta(minutes=2)
    raised = await processor.tick(partition=0)
    assert len(raised) == 1
    assert raised[0].window_start.ToDatetime(tzinfo=UTC) == T0 + 30 * BUCKET
    late = wave(1, start=30, seed=11)  # more mentions of the closed bucket: late, not counted
    assert await feed(processor, late) == []


async def test_an_undelivered_alert_is_sent_from_the_outbox(
    crisis_settings: Settings, engine: AsyncEngine, settings: Settings
) -> None:
    class FailingOnce(AlertSink):
        failed = False

        async def deliver(self, alerts: Any) -> None:
            if not self.failed:
                self.failed = True
                raise ConnectionError("broker gone")
            await super().deliver(alerts)

    await ensure_topics(settings.kafka_bootstrap, [Topic.ALERTS], prefix=settings.topic_prefix)
    async with EventProducer(settings.kafka_bootstrap, prefix=settings.topic_prefix) as producer:
        sink = FailingOnce(engine, producer)
        states: dict[str, Any] = {}
        processor = CrisisProcessor(
            states,
            sink,
            spike_config(crisis_settings),
            grace=timedelta(seconds=10),
            clock=Clock(T0 + timedelta(hours=1)),
        )
        batches = wave(40, crisis=range(20, 25))
        with pytest.raises(ConnectionError):
            await feed(processor, batches)
        assert len(states["acme\x00Acme"]["outbox"]) == 1
        resumed = CrisisProcessor(
            dict(states),
            sink,
            spike_config(crisis_settings),
            grace=timedelta(seconds=10),
            clock=Clock(T0 + timedelta(hours=1)),
        )
        raised = await feed(resumed, batches[21:])
        assert len(raised) == 1
        assert resumed.states["acme\x00Acme"]["outbox"] == []
    async with engine.connect() as conn:
        assert len((await conn.execute(select(ALERTS))).all()) == 1


def test_pure_reshares_count_in_the_volume_not_in_the_negative_series() -> None:
    original = item(1, T0, negative=True, reach=500)
    reshare = item(2, T0, negative=True, reach=900)
    reshare.mention.reshare_of_id = "1"
    quote = item(3, T0, negative=True, reach=100)
    quote.mention.quote_of_id = "1"  # a quote says something of its own: it counts
    activity = label_activity_events([original, reshare, quote], BUCKET)[0][1].label_activity
    delta = activity.buckets[0]
    assert (delta.mentions, delta.negative, delta.negative_reach) == (3, 2, 600)


@pytest.mark.parametrize(("corroboration", "alerts"), [(3.0, [30]), (0.0, [20, 30])])
async def test_one_big_accounts_post_alerts_only_without_corroboration(
    crisis_settings: Settings, sink: AlertSink, corroboration: float, alerts: list[int]
) -> None:
    processor = CrisisProcessor(
        {},
        sink,
        spike_config(crisis_settings),
        grace=timedelta(seconds=10),
        corroboration_z=corroboration,
        clock=Clock(T0 + timedelta(hours=2)),
    )
    batches = wave(40, crisis=range(30, 33))
    # Bucket 20: five negative mentions (a little above the usual 1-3), one of them by an account with
    # millions of followers: the negative reach spikes, the negative count does not.
    at = T0 + 20 * BUCKET
    batches[20] = [
        item(90_000 + i, at, negative=i < 5, reach=5_000_000 if i == 0 else 100) for i in range(20)
    ]
    raised = await feed(processor, batches)
    assert [a.window_start.ToDatetime(tzinfo=UTC) for a in raised] == [T0 + b * BUCKET for b in alerts]
    expected = (
        events_pb2.ALERT_KIND_NEGATIVE_SPIKE if corroboration else events_pb2.ALERT_KIND_NEGATIVE_REACH_SPIKE
    )
    assert raised[0].kind == expected
