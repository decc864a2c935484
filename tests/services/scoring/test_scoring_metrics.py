"""Scoring metrics: ``resonanz_alerts_raised_total`` counts each new crisis alert once (not its re-sends
after a failed delivery, not a redelivered batch), ``resonanz_sentiment_scorer_info`` names the scorer
loaded.

The crisis processor runs against the real databases and the real broker, as in
test_scoring_crisis.py; its faust table is a plain dict here.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import ALERTS
from resonanz_scoring.models import metadata
from resonanz_scoring.sentiment_loader import load_sentiment_scorer
from resonanz_scoring.streams.crisis import AlertSink, CrisisProcessor, label_activity_events, spike_config
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics
from resonanz_sdk.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
BUCKET = timedelta(minutes=1)
TENANT = "acme"
GRACE = timedelta(seconds=10)


def raised_total(kind: str, severity: str) -> float:
    return (
        REGISTRY.get_sample_value("resonanz_alerts_raised_total", {"kind": kind, "severity": severity}) or 0.0
    )


KINDS = ("negative_spike", "volume_spike", "negative_reach_spike")
SEVERITIES = ("warning", "critical")


def all_raised() -> dict[tuple[str, str], float]:
    return {(k, s): raised_total(k, s) for k in KINDS for s in SEVERITIES}


@pytest.fixture
def crisis_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"alert_bucket_seconds": 60.0, "alert_warmup_buckets": 10, "alert_cooldown_buckets": 5}
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


class FailingOnce(AlertSink):
    """The real sink, whose first delivery fails as if the broker were gone (a test double of an outage)."""

    failed = False

    async def deliver(self, alerts: Any) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("broker gone")
        await super().deliver(alerts)


def wave(buckets: int, *, crisis: range, seed: int = 7) -> list[list[ScoredItem]]:
    """One batch per bucket: about 20 mentions with 1-3 negative; 40 extra negative ones in ``crisis``."""
    rng = random.Random(seed)
    batches = []
    n = 0
    for b in range(buckets):
        at = T0 + b * BUCKET
        negatives = rng.randint(1, 3) + (40 if b in crisis else 0)
        batch = []
        for i in range(rng.randint(18, 22) + negatives):
            n += 1
            mention = mention_pb2.Mention(id=f"sim:{n}", network="sim", labels=["Acme"], text="x")
            mention.published_at.FromDatetime(at + timedelta(seconds=i % 60))
            score = score_pb2.MentionScore(
                mention_id=mention.id,
                tenant=TENANT,
                sentiment=score_pb2.SENTIMENT_NEGATIVE if i < negatives else score_pb2.SENTIMENT_NEUTRAL,
                estimated_reach=100 + (n * 37) % 900,
            )
            score.scored_at.FromDatetime(at)
            batch.append(ScoredItem(TENANT, mention, score))
        batches.append(batch)
    return batches


async def feed(processor: CrisisProcessor, batches: list[list[ScoredItem]]) -> list[events_pb2.Alert]:
    raised: list[events_pb2.Alert] = []
    for batch in batches:
        for _, envelope in label_activity_events(batch, BUCKET):
            raised += await processor.activity(TENANT, envelope.event_id, envelope.label_activity, 0)
    return raised


async def test_an_alert_counts_once_despite_a_failed_delivery_and_a_redelivery(
    crisis_settings: Settings, engine: AsyncEngine
) -> None:
    config = spike_config(crisis_settings)
    now = T0 + timedelta(hours=1)
    batches = wave(40, crisis=range(20, 25))
    before = all_raised()
    await ensure_topics(crisis_settings.kafka_bootstrap, [Topic.ALERTS], prefix=crisis_settings.topic_prefix)
    async with EventProducer(
        crisis_settings.kafka_bootstrap, prefix=crisis_settings.topic_prefix
    ) as producer:
        sink = FailingOnce(engine, producer)
        states: dict[str, Any] = {}
        first = CrisisProcessor(states, sink, config, grace=GRACE, clock=lambda: now)
        with pytest.raises(ConnectionError):
            await feed(first, batches)
        # raised (in the outbox), although not delivered yet
        assert sum(all_raised().values()) == sum(before.values()) + 1

        # A restart resumes from the table: the batches are redelivered and the outbox is sent again.
        resumed = CrisisProcessor(dict(states), sink, config, grace=GRACE, clock=lambda: now)
        sent = await feed(resumed, batches[18:])
        assert len(sent) == 1
        assert await feed(resumed, batches[18:]) == []
    (alert,) = sent
    kind = events_pb2.AlertKind.Name(alert.kind).removeprefix("ALERT_KIND_").lower()
    severity = events_pb2.AlertSeverity.Name(alert.severity).removeprefix("ALERT_SEVERITY_").lower()
    assert (kind, severity) in {("negative_spike", "warning"), ("negative_spike", "critical")}
    after = all_raised()
    assert {key: after[key] - before[key] for key in after if after[key] != before[key]} == {
        (kind, severity): 1
    }
    async with engine.connect() as conn:
        assert len((await conn.execute(select(ALERTS))).all()) == 1


def test_the_loaded_scorer_is_the_one_info_series() -> None:
    def info(scorer: str, version: str) -> float | None:
        return REGISTRY.get_sample_value(
            "resonanz_sentiment_scorer_info", {"scorer": scorer, "version": version}
        )

    lexicon = load_sentiment_scorer(Settings(sentiment_scorer="lexicon-v1"))
    assert info("lexicon-v1", lexicon.name) == 1
    trained = load_sentiment_scorer(Settings(sentiment_scorer=" linear-v1 "))
    assert trained.name.startswith("linear-v1-")  # the model artefact's version
    assert info("linear-v1", trained.name) == 1
    assert info("lexicon-v1", lexicon.name) is None  # replaced: one active scorer per process
