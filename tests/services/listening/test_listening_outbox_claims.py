"""Outbox claims: several relays on one database (SQLite and PostgreSQL) send each row exactly once to
the real broker, in id order per key, and a dead relay's expired claim is taken over.

Each relay has its own engine, as two replicas would. The tests count the raw records on the
``mentions.raw`` topic (not distinct event ids): a duplicate produce would show up as a second record.
``GatedProducer`` wraps the real producer and holds one relay inside ``publish_many`` until the test
lets it go, so the "another relay holds a claim" case happens every run, not by chance.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from listening_helpers import RawTopicReader
from resonanz.events.v1.events_pb2 import EventEnvelope, MentionCollected
from resonanz_listening.migrate import upgrade_database
from resonanz_listening.models import OutboxRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, new_envelope
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


class GatedProducer:
    """The real producer; ``publish_many`` first signals ``entered`` and waits for ``go``."""

    def __init__(self, producer: EventProducer) -> None:
        self._producer = producer
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def publish_many(self, topic: str, items: Sequence[tuple[str, EventEnvelope]]) -> None:
        self.entered.set()
        await self.go.wait()
        await self._producer.publish_many(topic, items)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first = create_engine(database_url)
    await upgrade_database(first)
    second = create_engine(database_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[EventProducer]:
    await ensure_topics(kafka_bootstrap, [Topic.MENTIONS_RAW], prefix=topic_prefix)
    async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as producer:
        yield producer


@pytest.fixture
async def reader(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[RawTopicReader]:
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()


async def add_rows(sessions: async_sessionmaker[Any], count: int, keys: int) -> dict[str, tuple[str, int]]:
    """``count`` unsent mentions.raw rows over ``keys`` keys; returns event id -> (key, row order)."""
    rows: list[dict[str, Any]] = []
    expected: dict[str, tuple[str, int]] = {}
    for n in range(count):
        key = f"scripted:{n % keys}"
        message = MentionCollected()
        message.mention.id = key
        envelope = new_envelope("acme", message)
        expected[envelope.event_id] = (key, n)
        rows.append(
            {
                "tenant": "acme",
                "topic": str(Topic.MENTIONS_RAW),
                "key": key,
                "envelope": envelope.SerializeToString(),
                "created_at": NOW,
                "sent": False,
            }
        )
    async with sessions() as session, session.begin():
        await session.execute(insert(OutboxRow), rows)
    return expected


async def unsent(sessions: async_sessionmaker[Any]) -> int:
    async with sessions() as session:
        return len((await session.scalars(select(OutboxRow.id).where(OutboxRow.sent.is_(False)))).all())


def assert_once_in_order(envelopes: list[EventEnvelope], expected: dict[str, tuple[str, int]]) -> None:
    """Each expected event exactly once on the topic (raw records), and per key in row order."""
    assert Counter(e.event_id for e in envelopes) == Counter(expected.keys())
    per_key: dict[str, list[int]] = defaultdict(list)
    for envelope in envelopes:  # one key is one partition: the reader sees its records in produce order
        key, order = expected[envelope.event_id]
        per_key[key].append(order)
    assert all(orders == sorted(orders) for orders in per_key.values())


async def test_two_relays_flushing_at_once_send_each_row_once_in_key_order(
    engines: tuple[AsyncEngine, AsyncEngine], producer: EventProducer, reader: RawTopicReader
) -> None:
    first, second = (session_factory(engine) for engine in engines)
    expected = await add_rows(first, 600, keys=37)
    relays = [
        OutboxRelay(first, producer, batch=25, replica_id="replica-a"),
        OutboxRelay(second, producer, batch=25, replica_id="replica-b"),
    ]
    sent = await asyncio.gather(*(relay.flush() for relay in relays), relays[0].flush())
    assert sum(sent) == 600
    assert await unsent(first) == 0
    assert_once_in_order(await reader.read_until(600), expected)


async def test_a_relay_skips_rows_and_keys_another_relay_holds(
    engines: tuple[AsyncEngine, AsyncEngine], producer: EventProducer, reader: RawTopicReader
) -> None:
    first, second = (session_factory(engine) for engine in engines)
    expected = await add_rows(first, 60, keys=40)  # rows 0-39 one per key, rows 40-59 repeat keys 0-19
    gated = GatedProducer(producer)
    slow = OutboxRelay(first, gated, batch=10, replica_id="slow")  # type: ignore[arg-type]
    fast = OutboxRelay(second, producer, batch=7, replica_id="fast")
    slow_flush = asyncio.create_task(slow.flush())
    try:
        await gated.entered.wait()  # "slow" holds rows 0-9 (keys 0-9) and is producing them

        # "fast" sends every other row except those of keys 0-9: rows 10-39 and 50-59 (keys 10-19).
        assert await fast.flush() == 40
        assert await unsent(first) == 20
    finally:
        gated.go.set()
        slow_sent = await slow_flush
    assert slow_sent == 20  # its own 10 rows, then rows 40-49 (keys 0-9), no longer held
    assert await unsent(first) == 0
    assert_once_in_order(await reader.read_until(60), expected)


async def test_an_expired_claim_is_taken_over_and_an_own_claim_at_once(
    engines: tuple[AsyncEngine, AsyncEngine], producer: EventProducer, reader: RawTopicReader
) -> None:
    sessions = session_factory(engines[0])
    expected = await add_rows(sessions, 30, keys=30)
    now = [NOW]
    clock: Callable[[], datetime] = lambda: now[0]  # noqa: E731
    async with sessions() as session, session.begin():  # what a relay that died after claiming leaves
        ids = (await session.scalars(select(OutboxRow.id).order_by(OutboxRow.id))).all()
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids[:20]))
            .values(claimed_by="dead", claimed_until=NOW + timedelta(seconds=60))
        )
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids[20:]))
            .values(claimed_by="restarted", claimed_until=NOW + timedelta(seconds=60))
        )

    survivor = OutboxRelay(sessions, producer, replica_id="survivor", clock=clock)
    assert await survivor.flush() == 0  # the claims are live
    # A relay that restarted under the same replica id takes its own claims back at once.
    assert await OutboxRelay(sessions, producer, replica_id="restarted", clock=clock).flush() == 10
    now[0] = NOW + timedelta(seconds=60)  # claimed_until reached: the dead relay's claim expired
    assert await survivor.flush() == 20
    assert await unsent(sessions) == 0
    async with sessions() as session:
        claims = (await session.execute(select(OutboxRow.claimed_by, OutboxRow.claimed_until))).all()
    assert set(claims) == {(None, None)}
    assert_once_in_order(await reader.read_until(30), expected)


async def test_a_broker_failure_releases_the_claims_at_once(
    engines: tuple[AsyncEngine, AsyncEngine], producer: EventProducer, reader: RawTopicReader
) -> None:
    sessions = session_factory(engines[0])
    oversized = MentionCollected()
    oversized.mention.id = "scripted:huge"
    oversized.mention.text = "x" * (2 * 1024 * 1024)  # over the producer's 1 MiB request limit
    async with sessions() as session, session.begin():
        await session.execute(
            insert(OutboxRow),
            [
                {
                    "tenant": "acme",
                    "topic": str(Topic.MENTIONS_RAW),
                    "key": "scripted:huge",
                    "envelope": new_envelope("acme", oversized).SerializeToString(),
                    "created_at": NOW,
                    "sent": False,
                }
            ],
        )
    expected = await add_rows(sessions, 10, keys=10)
    failing = OutboxRelay(sessions, producer, replica_id="failing", clock=lambda: NOW)
    with pytest.raises(BrokerError):
        await failing.flush()
    assert await failing.try_flush() == 0  # logged, not raised
    async with sessions() as session:
        claims = set((await session.execute(select(OutboxRow.claimed_by, OutboxRow.claimed_until))).all())
    assert claims == {(None, None)}  # released, not left to expire
    assert await unsent(sessions) == 11

    async with sessions() as session, session.begin():
        await session.execute(delete(OutboxRow).where(OutboxRow.key == "scripted:huge"))
    other = OutboxRelay(sessions, producer, replica_id="other", clock=lambda: NOW)
    assert await other.flush() == 10  # at the same moment: nothing of the failed relay's is held
    assert_once_in_order(await reader.read_until(10), expected)
