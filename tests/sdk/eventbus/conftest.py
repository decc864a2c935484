"""Fixtures for event-bus tests: the topics of a test and a started producer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from eventbus_helpers import TOPIC
from resonanz_sdk.eventbus import (
    EventProducer,
    ensure_topics,
)


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> list[str]:
    return await ensure_topics(kafka_bootstrap, [TOPIC], prefix=topic_prefix)


@pytest.fixture
async def producer(
    kafka_bootstrap: str, topic_prefix: str, topics: list[str]
) -> AsyncIterator[EventProducer]:
    async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as started:
        yield started
