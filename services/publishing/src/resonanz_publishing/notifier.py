"""In-process change notifications for posts, so WatchPost answers at once.

Changes made by another replica are not seen here; WatchPost also re-reads the post periodically.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class ChangeNotifier:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, post_id: str) -> None:
        """Wake everyone watching ``post_id``."""
        for event in self._waiters.get(post_id, ()):
            event.set()

    @contextmanager
    def subscribe(self, post_id: str) -> Iterator[asyncio.Event]:
        """An event that is set whenever ``post_id`` changes; clear it before each read."""
        event = asyncio.Event()
        self._waiters[post_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(post_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[post_id]

    def watcher_count(self, post_id: str) -> int:
        return len(self._waiters.get(post_id, ()))


async def wait_for_change(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; ``True`` when it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
