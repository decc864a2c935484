"""Failover: a replica that dies (its tasks cancelled, nothing released) has its queries taken over by
another within about the lease TTL; across the crash and across a restart mid-collection no mention
is lost and no mention gets a second record on ``mentions.raw`` (the test consumes the topic and
counts the raw records per mention, each exactly once).

The outbox relays claim their rows, so two replicas never send the same row. A killed replica's
in-flight relay flush runs to completion (relay flushes are shielded from cancellation), so the
at-least-once edge of a process that dies between the broker's ack and marking its rows sent (a
re-send with the same event id) does not occur here; docs/listening/collection.md describes it.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from listening_collection_helpers import Replica, add_queries, read_mentions
from listening_helpers import RawTopicReader, ScriptedNetwork, eventually
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration


def _records_per_mention(envelopes: list[EventEnvelope]) -> Counter[str]:
    """How many records each mention got on the topic (raw records, duplicates included)."""
    return Counter(e.mention_collected.mention.id for e in envelopes)


def _fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"lease_ttl_seconds": 2.0, "lease_renew_seconds": 0.3, "listening_page_size": 5}
    )


async def test_a_dead_replicas_queries_are_taken_over_without_loss_or_duplicates(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = _fast(settings)
    network = ScriptedNetwork()
    queries = await add_queries(settings, [(f"q{i}", f"acme OR topic{i}") for i in range(4)])
    pairs = {(q, "scripted") for q in queries}
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    survivor = await Replica(settings, {"scripted": network}, "survivor").start()
    victim = await Replica(settings, {"scripted": network}, "victim").start()
    try:

        async def split() -> bool:
            return len(survivor.held) == 2 and len(victim.held) == 2

        await eventually(split)
        taken = set(victim.held)
        posts = [network.post(f"acme before {i}") for i in range(15)]
        posts += [network.post(f"topic{i % 4} only {i}") for i in range(8)]
        await reader.read_until(len(posts))

        await victim.kill()  # mid-collection: its leases stay taken until they expire
        posts += [network.post(f"acme after {i}") for i in range(15)]
        posts += [network.post(f"topic{i % 4} later {i}") for i in range(8)]

        async def taken_over() -> bool:
            return survivor.held == pairs

        await eventually(taken_over, within=10.0)
        assert taken <= survivor.held
        envelopes = await read_mentions(reader, len(posts))
        assert _records_per_mention(envelopes) == Counter({f"scripted:{p.external_id}": 1 for p in posts})
    finally:
        await survivor.stop()
        await victim.stop()
        await reader.stop()


async def test_a_replica_restart_mid_collection_loses_and_duplicates_nothing(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = _fast(settings)
    network = ScriptedNetwork()
    await add_queries(settings, [("q1", "acme"), ("q2", "acme OR phone")])
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    replica = await Replica(settings, {"scripted": network}, "replica-1").start()
    posts = []
    try:
        for i in range(40):
            posts.append(network.post(f"acme {i}" if i % 3 else f"phone {i}"))
            if i == 20:
                await replica.kill()  # crashes while posts keep coming
                replica = await Replica(settings, {"scripted": network}, "replica-1-restarted").start()
            await asyncio.sleep(0.01)
        envelopes = await read_mentions(reader, len(posts))
        assert _records_per_mention(envelopes) == Counter({f"scripted:{p.external_id}": 1 for p in posts})
    finally:
        await replica.stop()
        await reader.stop()
