"""Cascades through the real faust app on the real broker: mentions scored from ``mentions.raw`` form
the known cascade with its known structural virality, a reshare counted twice is counted once, and
the cascade tables survive an app restart (recovered from their changelogs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import CASCADE_MEMBERS, CASCADES
from resonanz_scoring.analytics.cascade import structural_virality
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.streams import cascades
from resonanz_scoring.streams.extensions import ExtensionSpec
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import eventually
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TENANT = "acme"


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(settings.database_url_for("scoring"))
    yield db
    await db.dispose()


@asynccontextmanager
async def running(settings: Settings, extensions: Sequence[ExtensionSpec]) -> AsyncIterator[ScoringApp]:
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=extensions)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def post(external_id: str, reshare_of: str = "", minute: int = 0, reply_to: str = "") -> mention_pb2.Mention:
    m = mention_pb2.Mention(
        id=f"sim:{external_id}",
        tenant=TENANT,
        network="sim",
        external_id=external_id,
        text=f"Acme post {external_id}",
        reshare_of_id=reshare_of,
        in_reply_to_id=reply_to,
        labels=["Acme"],
        author=mention_pb2.Author(id=f"u{external_id}", handle=f"user_{external_id}", followers=100),
    )
    m.published_at.FromDatetime(T0 + timedelta(minutes=minute))
    return m


async def publish(producer: EventProducer, posts: Sequence[mention_pb2.Mention]) -> None:
    # Keyed by the network, so the posts are scored in order on one partition.
    await producer.publish_many(
        Topic.MENTIONS_RAW,
        [("sim", new_envelope(TENANT, events_pb2.MentionCollected(mention=m))) for m in posts],
    )


async def cascade(engine: AsyncEngine, root: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(CASCADES).where(CASCADES.c.tenant == TENANT, CASCADES.c.root_mention_id == root)
                )
            )
            .mappings()
            .one_or_none()
        )
    return None if row is None else dict(row)


async def size_is(engine: AsyncEngine, root: str, size: int) -> bool:
    row = await cascade(engine, root)
    return row is not None and row["size"] == size


async def test_known_cascade_counted_once_and_recovered_after_restart(
    settings: Settings, producer: EventProducer, engine: AsyncEngine
) -> None:
    extensions = [cascades.register]
    # r <- a, r <- b, a <- c (a reshare of a reshare, pointing at a), b <- d (a reply to b).
    tree = [
        post("r"),
        post("a", "r", 1),
        post("b", "r", 2),
        post("c", "a", 3),
        post("d", reply_to="b", minute=4),
    ]
    async with running(settings, extensions):
        await publish(producer, tree)
        await eventually(lambda: size_is(engine, "sim:r", 5), within=30, what="the cascade of r with 5 posts")
        row = await cascade(engine, "sim:r")
        assert row is not None
        expected = structural_virality({"r": None, "a": "r", "b": "r", "c": "a", "d": "b"})
        assert row["structural_virality"] == pytest.approx(expected)
        assert row["depth"] == 2
        assert row["root_text"] == "Acme post r"
        assert row["labels"] == ["Acme"]

        # The same reshare again: re-collected (a new envelope) and re-observed (the internal event
        # sent again, as after a crash between observing and acknowledging), then one new reshare.
        await publish(producer, [post("a", "r", 1)])
        again = cascades.cascade_posts_events([_item(post("a", "r", 1))])
        await producer.publish_many(f"scoring.{cascades.TOPIC}", [(k.decode(), e) for k, e in again])
        await publish(producer, [post("e", "a", 5)])
        # Same key, same partition: once e is in, the repeated event before it was applied (as nothing).
        await eventually(lambda: size_is(engine, "sim:r", 6), within=30, what="e joined")

    async with running(settings, extensions):
        # After the restart the tables come back from their changelogs: f (a reshare of e, which
        # reshares a) joins r's cascade, which still knows its six posts.
        await publish(producer, [post("f", "e", 6)])
        await eventually(lambda: size_is(engine, "sim:r", 7), within=30, what="f joined after the restart")
    row = await cascade(engine, "sim:r")
    assert row is not None
    assert row["depth"] == 3  # r -> a -> e -> f
    expected = structural_virality({"r": None, "a": "r", "b": "r", "c": "a", "d": "b", "e": "a", "f": "e"})
    assert row["structural_virality"] == pytest.approx(expected)
    async with engine.connect() as conn:
        members = (await conn.execute(select(func.count()).select_from(CASCADE_MEMBERS))).scalar_one()
    assert members == 7


def _item(m: mention_pb2.Mention) -> ScoredItem:
    score = score_pb2.MentionScore(mention_id=m.id, tenant=TENANT)
    score.scored_at.FromDatetime(T0)
    return ScoredItem(TENANT, m, score)
