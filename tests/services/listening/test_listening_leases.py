"""Collection leases: replicas split the (query, network) pairs, hand them over on a graceful stop,
and a replica that lost its lease (fencing) can no longer write a cursor or a mention.

Real broker, SQLite and PostgreSQL; replicas are ``listening_collection_helpers.Replica``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from listening_collection_helpers import Replica, add_queries, read_mentions
from listening_helpers import RawTopicReader, ScriptedNetwork, eventually
from resonanz_listening.collection_models import LeaseRow
from resonanz_listening.ingest import Ingestor, SearchResult
from resonanz_listening.leases import LeaseManager, fair_share
from resonanz_listening.migrate import upgrade_database
from resonanz_listening.models import CursorRow, MentionRow
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.settings import Settings
from sqlalchemy import select, update

pytestmark = pytest.mark.integration


def test_fair_share_is_the_ceiling_over_live_replicas() -> None:
    assert fair_share(6, 2) == 3
    assert fair_share(7, 2) == 4
    assert fair_share(5, 0) == 5  # never divides by zero: this replica is live
    assert fair_share(0, 3) == 0


async def test_replicas_split_the_queries_and_a_graceful_stop_hands_them_over(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # A long TTL: the hand-over below can only come from the release, not from expiry.
    settings = settings.model_copy(update={"lease_ttl_seconds": 60.0, "lease_renew_seconds": 0.2})
    network = ScriptedNetwork()
    queries = await add_queries(settings, [(f"q{i}", f"acme OR widget{i}") for i in range(6)])
    pairs = {(q, "scripted") for q in queries}
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    a = await Replica(settings, {"scripted": network}, "replica-a").start()
    b = await Replica(settings, {"scripted": network}, "replica-b").start()
    try:

        async def split() -> bool:
            return len(a.held) == 3 and len(b.held) == 3 and a.held | b.held == pairs

        await eventually(split)
        posts = [network.post(f"acme news {i}") for i in range(20)]
        envelopes = await read_mentions(reader, len(posts))
        # One record per mention on the topic although both replicas collect queries matching every
        # post and both replicas' outbox relays flush the same table (they claim their rows).
        records = Counter(e.mention_collected.mention.id for e in envelopes)
        assert records == Counter({f"scripted:{p.external_id}": 1 for p in posts})

        await b.stop()

        async def handed_over() -> bool:
            return a.held == pairs

        await eventually(handed_over, within=5.0)
    finally:
        await a.stop()
        await b.stop()
        await reader.stop()


async def test_a_replica_that_lost_its_lease_writes_nothing(settings: Settings) -> None:
    await add_queries(settings, [("q1", "acme")])
    engine = create_engine(settings.database_url_for("listening"))
    try:
        await upgrade_database(engine)
        sessions = session_factory(engine)
        first = LeaseManager(sessions, "first", ttl=30)
        second = LeaseManager(sessions, "second", ttl=30)
        key = ("q1", "scripted")
        old = (await first.sync({key: "acme"}))[key]
        assert await second.sync({key: "acme"}) == {}  # held and not expired: not claimable

        # The first replica stalls (a GC pause) past its lease; the second takes over.
        async with sessions() as session, session.begin():
            await session.execute(
                update(LeaseRow).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        new = (await second.sync({key: "acme"}))[key]
        assert new.generation == old.generation + 1

        network = ScriptedNetwork()
        raw = network.post("acme from the past")
        ingestor = Ingestor(sessions)
        now = datetime.now(UTC)
        stale = SearchResult("q1", "acme", "Acme", "scripted", "9", [raw], fence=old.fence())
        outcome = await ingestor.store_round([stale], collected_at=now)
        assert outcome.fenced_out == {key}
        assert sum(outcome.new_by_network.values()) == 0
        async with sessions() as session:
            assert await session.scalar(select(CursorRow.cursor)) is None
            assert list(await session.scalars(select(MentionRow.mention_id))) == []

        fresh = SearchResult("q1", "acme", "Acme", "scripted", "1", [raw], fence=new.fence())
        outcome = await ingestor.store_round([fresh], collected_at=now)
        assert outcome.new_by_query == Counter({key: 1})
        async with sessions() as session:
            assert await session.scalar(select(CursorRow.cursor)) == "1"

        # The stalled replica wakes up: its sync finds the lease gone and does not take it back.
        assert await first.sync({key: "acme"}) == {}
        async with sessions() as session:
            row = await session.scalar(select(LeaseRow))
            assert row is not None
            assert (row.owner, row.generation) == ("second", new.generation)
    finally:
        await engine.dispose()


async def test_a_new_replica_gets_its_fair_share_and_dead_replicas_leave_the_count(
    settings: Settings,
) -> None:
    await add_queries(settings, [(f"q{i}", "acme") for i in range(5)])
    engine = create_engine(settings.database_url_for("listening"))
    try:
        await upgrade_database(engine)
        sessions = session_factory(engine)
        wanted = {(f"q{i}", "scripted"): "acme" for i in range(5)}
        first = LeaseManager(sessions, "first", ttl=30)
        assert len(await first.sync(wanted)) == 5
        second = LeaseManager(sessions, "second", ttl=30)
        assert await second.sync(wanted) == {}  # everything is held: it waits for the shedding
        assert len(await first.sync(wanted)) == 3  # two live replicas: ceil(5 / 2)
        assert len(await second.sync(wanted)) == 2
        assert set(first.held).isdisjoint(second.held)
        await second.release_all()
        assert await first.heartbeat() == 1
        assert len(await first.sync(wanted)) == 5
    finally:
        await engine.dispose()
