"""The crisis agent in the real faust app on the real broker: a negative wave raises exactly one
alert (database and ``alerts`` topic), and the detector state survives an app restart (the table is
recovered from its changelog: the same crisis does not alert again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import pytest
from aiokafka import ConsumerRecord
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import ALERTS
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.streams import crisis
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.extensions import ExtensionSpec
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import eventually
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
BUCKET = timedelta(minutes=1)
TENANT = "acme"
LABEL = "Acme"
KEY = f"{TENANT}\x00{LABEL}"


@pytest.fixture
def crisis_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "alert_bucket_seconds": 60.0,
            "alert_warmup_buckets": 10,
            "alert_cooldown_buckets": 20,
            "alert_grace_seconds": 5.0,
            "alert_tick_seconds": 1.0,
        }
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(settings.database_url_for("scoring"))
    yield db
    await db.dispose()


class Tables:
    """Captures the crisis table of the running app (reads only)."""

    table: Any = None

    def extension(self) -> Callable[[faust.App, StreamContext], None]:
        def register(app: faust.App, ctx: StreamContext) -> None:
            crisis.register(app, ctx)
            self.table = app.tables[f"{ctx.settings.topic_prefix}scoring-crisis"]

        return register


@asynccontextmanager
async def running(settings: Settings, extensions: Sequence[ExtensionSpec]) -> AsyncIterator[ScoringApp]:
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=extensions)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def activity(bucket: int, *, negative: int, mentions: int = 20) -> events_pb2.EventEnvelope:
    """A LabelActivity for one bucket, with a fixed event id (a resend is a redelivery)."""
    start = T0 + bucket * BUCKET
    payload = events_pb2.LabelActivity(label=LABEL)
    payload.latest.FromDatetime(start + timedelta(seconds=30))
    delta = payload.buckets.add(
        mentions=mentions + negative, negative=negative, negative_reach=negative * 300
    )
    delta.bucket_start.FromDatetime(start)
    for i in range(min(negative, 5)):
        delta.samples.add(mention_id=f"sim:{bucket}-{i}", reach=300)
    envelope = new_envelope(TENANT, payload)
    envelope.event_id = f"activity-{bucket}"
    return envelope


def series(buckets: range, crisis_buckets: range) -> list[events_pb2.EventEnvelope]:
    return [activity(b, negative=(40 if b in crisis_buckets else 1 + b % 3)) for b in buckets]


async def send(
    producer: EventProducer, settings: Settings, envelopes: Sequence[events_pb2.EventEnvelope]
) -> None:
    # The internal topic is raw bytes: an sdk producer writes the same bytes the observer does.
    await producer.publish_many(f"scoring.{crisis.TOPIC}", [(KEY, e) for e in envelopes])


async def alert_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(ALERTS))).mappings().all()]


async def test_a_wave_alerts_once_and_the_detector_survives_a_restart(
    crisis_settings: Settings, producer: EventProducer, engine: AsyncEngine, read_topic: ReadTopic
) -> None:
    before = series(range(25), range(20, 25))
    after = series(range(25, 39), range(37, 39))  # 12 calm buckets, then the crisis flares up again
    tables = Tables()
    async with running(crisis_settings, [tables.extension()]):
        await send(producer, crisis_settings, before)

        async def one_alert() -> bool:
            return len(await alert_rows(engine)) >= 1

        await eventually(one_alert, within=30, what="the first alert")
    async with running(crisis_settings, [tables.extension()]):
        # Redelivered old events (same ids) and the rest of the crisis.
        await send(producer, crisis_settings, [*before[-3:], *after])

        async def all_closed() -> bool:
            state = tables.table.get(KEY)
            return (
                state is not None
                and state["closed_until"] is not None
                and state["closed_until"]
                >= ((T0 + 38 * BUCKET - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
            )

        await eventually(all_closed, within=30, what="bucket 37 closed after the restart")
        state = tables.table.get(KEY)
        assert state["detectors"]["negative"]["armed"] is False  # still in the first crisis' cooldown
    rows = await alert_rows(engine)
    assert len(rows) == 1
    alert = events_pb2.Alert.FromString(rows[0]["alert"])
    assert alert.kind == events_pb2.ALERT_KIND_NEGATIVE_SPIKE
    assert alert.window_start.ToDatetime(tzinfo=UTC) == T0 + 20 * BUCKET
    assert alert.label == LABEL
    records = await read_topic(Topic.ALERTS, 1, 3.0)
    assert [events_pb2.EventEnvelope.FromString(r.value).alert.id for r in records] == [alert.id]


async def test_a_fresh_detector_would_alert_on_the_data_after_the_restart(crisis_settings: Settings) -> None:
    """Shows the restart test can fail: without the recovered state, the flare-up alerts."""

    class NoSink(crisis.AlertSink):
        def __init__(self) -> None:
            pass

        async def deliver(self, alerts: Sequence[events_pb2.Alert]) -> None:
            return None

    processor = crisis.CrisisProcessor(
        {},
        NoSink(),
        crisis.spike_config(crisis_settings),
        grace=timedelta(seconds=5),
        clock=lambda: T0 + timedelta(hours=1),
    )
    raised = []
    for envelope in series(range(25, 40), range(37, 40)):
        raised += await processor.activity(TENANT, envelope.event_id, envelope.label_activity, 0)
    assert len(raised) == 1
