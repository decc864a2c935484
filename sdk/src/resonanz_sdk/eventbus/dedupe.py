"""Idempotent consumers: remember which event ids were processed and skip them when redelivered.

``ProcessedEvents`` is the protocol a consumer uses; ``InMemoryProcessedEvents`` is a bounded LRU set
for one process. Services that need it across restarts implement the protocol on their database.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryProcessedEvents", "ProcessedEvents"]


@runtime_checkable
class ProcessedEvents(Protocol):
    """Event ids already processed by one consumer group."""

    async def filter_new(self, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` that has not been processed yet."""
        ...

    async def mark(self, ids: Iterable[str]) -> None:
        """Record ``ids`` as processed."""
        ...


class InMemoryProcessedEvents:
    """The last ``capacity`` processed event ids, in memory (oldest forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    async def filter_new(self, ids: Iterable[str]) -> set[str]:
        return {event_id for event_id in ids if event_id not in self._ids}

    async def mark(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
