"""The scoring faust app's consumer lag (``resonanz_consumer_lag``) on the real broker, and the
replication factor of the topics faust declares itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import faust
import pytest
from prometheus_client import REGISTRY
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.streams.app import app_id, create_app
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.extensions import EXTENSIONS
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import collected, eventually, mention

pytestmark = pytest.mark.integration


class GateObserver:
    """Holds the mentions agent inside its first batch until ``gate`` is set: nothing is committed
    meanwhile, so the backlog stays where the test can see it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.seen: set[str] = set()

    async def observe(self, items: Sequence[ScoredItem]) -> None:
        self.entered.set()
        await self.gate.wait()
        self.seen.update(item.mention.id for item in items)

    def register(self, app: faust.App, ctx: StreamContext) -> None:
        ctx.add_observer(self)


def lag(settings: Settings, topic: str) -> float | None:
    return REGISTRY.get_sample_value("resonanz_consumer_lag", {"topic": topic, "group": app_id(settings)})


async def test_the_backlog_of_a_stopped_app_is_reported_and_returns_to_zero_once_consumed(
    settings: Settings, producer: EventProducer
) -> None:
    await ensure_topics(settings.kafka_bootstrap, [Topic.MENTIONS_RAW], prefix=settings.topic_prefix)
    count = 6
    ids = [f"testnet:lag-{i}" for i in range(count)]
    for mention_id in ids:  # one produce (one record batch) each: Tansu's end offsets are then exact
        m = mention(mention_id)
        await producer.publish_many(Topic.MENTIONS_RAW, [(m.id, collected(m))])
    assert lag(settings, "mentions.raw") in (None, 0.0)  # the app never ran: nothing reported yet

    gate = GateObserver()
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=[*EXTENSIONS, gate.register])
    await app.start()
    try:
        assert app.streams is not None
        app.streams.lag.refresh_seconds = 0.5

        async def backlog_reported() -> bool:
            return lag(settings, "mentions.raw") == float(count)

        await eventually(backlog_reported, what=f"resonanz_consumer_lag{{topic=mentions.raw}} == {count}")
        # The other topics the app's agents consume are reported too, with nothing behind.
        for topic in ("engagement.updates", "publish.requests", "publish.results"):
            assert lag(settings, topic) == 0.0, topic
        internal = ("scoring.label-activity", "scoring.cascade-posts")  # the app's own topics
        for topic in internal:
            assert lag(settings, topic) is not None, topic

        gate.gate.set()

        async def consumed() -> bool:
            behind = [lag(settings, topic) for topic in ("mentions.raw", *internal)]
            return gate.seen >= set(ids) and behind == [0.0] * len(behind)

        await eventually(consumed, what="every mention consumed and every lag back at 0")
    finally:
        gate.gate.set()
        await app.stop()


def test_the_topic_replication_factor_reaches_the_faust_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = create_app(Settings(kafka_bootstrap="localhost:9092"), datadir=tmp_path / "a")
    assert default.conf.topic_replication_factor == 1  # the embedded broker has one node

    monkeypatch.setenv("RESONANZ_SCORING_TOPIC_REPLICATION_FACTOR", "3")
    settings = Settings(kafka_bootstrap="localhost:9092")
    assert settings.scoring_topic_replication_factor == 3
    app = create_app(settings, datadir=tmp_path / "b")
    assert app.conf.topic_replication_factor == 3
    # A table's changelog sets no replicas of its own: faust declares it with the app's factor.
    table = app.Table("lag-test", default=int)
    assert table.changelog_topic.replicas is None


def test_a_replication_factor_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESONANZ_SCORING_TOPIC_REPLICATION_FACTOR", "0")
    with pytest.raises(ValueError, match="scoring_topic_replication_factor"):
        Settings(kafka_bootstrap="localhost:9092")
