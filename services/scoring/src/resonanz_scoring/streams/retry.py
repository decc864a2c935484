"""The sdk consumer's failure rules for a faust batch: whole batch, then one by one, then the DLQ.

A batch handler that raises is called again with the whole batch once, then with each item alone,
each up to ``max_attempts`` times with capped exponential backoff; an item that keeps failing is
dead-lettered with its last error. Poison (an item that cannot be decoded) never reaches the
handler: the caller dead-letters it at once with ``attempts=0``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["run_with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")


async def run_with_retries(
    items: Sequence[T],
    handler: Callable[[Sequence[T]], Awaitable[None]],
    *,
    max_attempts: int,
    backoff_initial: float = 0.05,
    backoff_max: float = 2.0,
    what: str = "batch",
) -> list[tuple[T, BaseException]]:
    """Handle ``items``; returns the ``(item, error)`` pairs that failed every attempt."""
    if not items:
        return []
    try:
        await handler(items)
        return []
    except Exception as exc:
        if len(items) == 1 and max_attempts == 1:
            return [(items[0], exc)]
        log.warning("%s of %d failed (%s); retrying them one by one", what, len(items), exc)
    failed: list[tuple[T, BaseException]] = []
    for item in items:
        delay = backoff_initial
        for attempt in range(1, max_attempts + 1):
            try:
                await handler([item])
            except Exception as exc:
                if attempt == max_attempts:
                    failed.append((item, exc))
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, backoff_max)
            else:
                break
    return failed
