"""W3C trace context, carried across gRPC and Kafka as a ``traceparent`` string.

The current traceparent lives in a :class:`contextvars.ContextVar`, so it follows asyncio tasks:

    with use_traceparent(received.traceparent):
        await handle(received)      # anything produced here carries the same trace id

``ensure_traceparent()`` returns the current one or starts a new trace.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "child_traceparent",
    "current_traceparent",
    "ensure_traceparent",
    "is_valid_traceparent",
    "new_traceparent",
    "trace_id_of",
    "use_traceparent",
]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

_current: ContextVar[str | None] = ContextVar("resonanz_traceparent", default=None)


def is_valid_traceparent(value: str | None) -> bool:
    """True for a version-00 W3C traceparent with non-zero trace and span ids."""
    if not value:
        return False
    match = _TRACEPARENT.match(value)
    if match is None:
        return False
    return match.group(1) != _ZERO_TRACE and match.group(2) != _ZERO_SPAN


def new_traceparent() -> str:
    """A fresh, sampled traceparent: a new trace id and a new span id."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str) -> str:
    """Same trace id and flags as ``parent``, a new span id (a new trace when ``parent`` is invalid)."""
    match = _TRACEPARENT.match(parent) if is_valid_traceparent(parent) else None
    if match is None:
        return new_traceparent()
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def trace_id_of(traceparent: str) -> str | None:
    """The 32-hex trace id of a valid traceparent, else None."""
    if not is_valid_traceparent(traceparent):
        return None
    return traceparent[3:35]


def current_traceparent() -> str | None:
    """The traceparent of the current context, or None outside any trace."""
    return _current.get()


@contextmanager
def use_traceparent(traceparent: str | None) -> Iterator[str | None]:
    """Make ``traceparent`` current inside the block (invalid or empty values clear it)."""
    value = traceparent if is_valid_traceparent(traceparent) else None
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


def ensure_traceparent() -> str:
    """The current traceparent, or a new one when there is none (the current context is unchanged)."""
    return _current.get() or new_traceparent()
