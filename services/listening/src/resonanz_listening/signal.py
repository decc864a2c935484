"""Wakes live ``StreamMentions`` calls when this process stored new mentions.

Streams also re-read the database every poll interval, so mentions stored by another replica reach
them too, only later.
"""

from __future__ import annotations

import asyncio
import contextlib


class MentionSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def notify(self) -> None:
        """Wake every waiter (new mentions were committed)."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    def close(self) -> None:
        """Wake every waiter for good: the service is stopping."""
        self._closed = True
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Until the next :meth:`notify`, :meth:`close` or ``seconds``, whichever is first."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
