"""ensure_topics against the real broker: topics and DLQs created once, idempotently."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from resonanz_sdk.eventbus import Topic, ensure_topics


async def describe(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([name for name in names if name in existing])
    finally:
        await admin.close()
    return {topic["topic"]: len(topic["partitions"]) for topic in described if topic["error_code"] == 0}


async def test_creates_topics_and_their_dlqs(kafka_bootstrap: str, topic_prefix: str) -> None:
    names = await ensure_topics(
        kafka_bootstrap, [Topic.MENTIONS_RAW, Topic.ALERTS], prefix=topic_prefix, partitions=4
    )
    assert names == [
        f"{topic_prefix}mentions.raw",
        f"{topic_prefix}mentions.raw.dlq",
        f"{topic_prefix}alerts",
        f"{topic_prefix}alerts.dlq",
    ]
    assert await describe(kafka_bootstrap, names) == dict.fromkeys(names, 4)


async def test_is_idempotent_and_keeps_existing_topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    first = await ensure_topics(kafka_bootstrap, [Topic.ALERTS], prefix=topic_prefix, partitions=2)
    # Again, with more topics and another partition count: existing ones are left as they are.
    second = await ensure_topics(
        kafka_bootstrap, [Topic.ALERTS, Topic.PUBLISH_RESULTS], prefix=topic_prefix, partitions=5
    )
    assert set(first) < set(second)
    partitions = await describe(kafka_bootstrap, second)
    assert partitions[f"{topic_prefix}alerts"] == 2
    assert partitions[f"{topic_prefix}alerts.dlq"] == 2
    assert partitions[f"{topic_prefix}publish.results"] == 5
    assert partitions[f"{topic_prefix}publish.results.dlq"] == 5


async def test_nothing_to_do(kafka_bootstrap: str) -> None:
    assert await ensure_topics(kafka_bootstrap, []) == []
