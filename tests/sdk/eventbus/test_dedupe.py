"""The in-memory processed-events store: filtering, marking, bounded memory."""

from __future__ import annotations

import pytest
from resonanz_sdk.eventbus import InMemoryProcessedEvents, ProcessedEvents


async def test_filter_new_and_mark() -> None:
    store = InMemoryProcessedEvents()
    assert isinstance(store, ProcessedEvents)
    assert await store.filter_new(["a", "b"]) == {"a", "b"}
    await store.mark(["a"])
    assert await store.filter_new(["a", "b"]) == {"b"}
    await store.mark(iter(["b", "b"]))
    assert await store.filter_new(["a", "b", "c"]) == {"c"}
    assert len(store) == 2


async def test_capacity_forgets_the_least_recently_marked() -> None:
    store = InMemoryProcessedEvents(capacity=3)
    await store.mark(["a", "b", "c"])
    await store.mark(["a"])  # refreshed: now the newest
    await store.mark(["d"])  # evicts b, the oldest
    assert await store.filter_new(["a", "b", "c", "d"]) == {"b"}
    assert len(store) == 3


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        InMemoryProcessedEvents(capacity=0)
