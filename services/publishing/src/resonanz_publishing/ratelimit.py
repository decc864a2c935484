"""The manifests' rate limits, enforced before the network is called, shared by every worker replica.

Each :class:`~resonanz_sdk.manifest.RateLimit` of an operation (``publish``, ``reply``, ``delete``,
or ``*`` for all of them) is counted in fixed windows of ``per_seconds`` (aligned to the epoch) in
``publishing_rate_windows``: ``ACCOUNT`` limits per network and account, ``APP`` limits per network.
Taking a slot is one statement per limit, atomic on PostgreSQL and SQLite alike::

    INSERT INTO publishing_rate_windows (key, window_start, count) VALUES (:key, :start, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 WHERE count < :limit
    RETURNING count

No row back means the window is full. All limits of one call are taken in one transaction, so a call
refused by one limit is not counted against the others (the transaction is rolled back).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from resonanz_sdk.db import session_factory
from resonanz_sdk.manifest import Manifest, RateLimit, RateLimitScope
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.models import RateWindowRow

#: Windows that started longer ago than this are deleted by :meth:`RateLimiter.prune`; rate limits
#: with a longer window than this are not supported (no known network has one).
RATE_WINDOW_RETENTION_SECONDS = 8 * 86400.0


@dataclass(frozen=True)
class RateDecision:
    """The outcome of :meth:`RateLimiter.acquire`."""

    #: Seconds until a slot may be free; 0.0 when the call was counted and may go ahead.
    wait: float
    #: The limit that was full (for logs and error texts); ``None`` when allowed.
    limit: RateLimit | None = None

    @property
    def allowed(self) -> bool:
        return self.wait <= 0.0


ALLOWED = RateDecision(0.0)


def window_key(network: str, account: str, limit: RateLimit) -> str:
    """The row key of one limit's windows: per account for ACCOUNT limits, per network for APP ones."""
    period = f"{limit.per_seconds:g}"
    if limit.scope is RateLimitScope.APP:
        return f"{network}|{limit.operation}|{period}|app"
    return f"{network}|{limit.operation}|{period}|account|{account}"


def window_start(now: float, per_seconds: float) -> int:
    """Start of the fixed window ``now`` falls in, whole seconds since the epoch."""
    return int(math.floor(now / per_seconds) * per_seconds)


class RateLimiter:
    """Counts calls against the manifests' limits in the database.

    :param clock: seconds since the epoch (wall clock: windows are shared between processes).
    """

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = session_factory(engine)
        self._insert = sqlite_insert if engine.dialect.name == "sqlite" else pg_insert
        self._clock = clock

    async def acquire(self, manifest: Manifest, operation: str, account: str) -> RateDecision:
        """Count one ``operation`` call on ``account`` against every matching limit of ``manifest``.

        Allowed: every limit counted the call. Refused: nothing was counted; ``wait`` is the time
        until the full window ends.
        """
        limits = [r for r in manifest.rate_limit(operation) if r.requests > 0 and r.per_seconds > 0]
        if not limits:
            return ALLOWED
        now = self._clock()
        async with self._sessions() as session, session.begin() as transaction:
            for limit in limits:
                start = window_start(now, limit.per_seconds)
                insert = self._insert(RateWindowRow).values(
                    key=window_key(manifest.network, account, limit), window_start=start, count=1
                )
                stmt = insert.on_conflict_do_update(
                    index_elements=[RateWindowRow.key, RateWindowRow.window_start],
                    set_={"count": RateWindowRow.count + 1},
                    where=RateWindowRow.count < limit.requests,
                ).returning(RateWindowRow.count)
                counted = (await session.execute(stmt)).scalar_one_or_none()
                if counted is None:
                    await transaction.rollback()
                    wait = max(start + limit.per_seconds - now, 0.001)
                    return RateDecision(wait, limit)
        return ALLOWED

    async def count(self, manifest: Manifest, operation: str, account: str) -> dict[str, int]:
        """Calls counted in the current window of each matching limit, by window key (for tests, ops)."""
        now = self._clock()
        out: dict[str, int] = {}
        async with self._sessions() as session:
            for limit in manifest.rate_limit(operation):
                key = window_key(manifest.network, account, limit)
                value = (
                    await session.execute(
                        select(RateWindowRow.count).where(
                            RateWindowRow.key == key,
                            RateWindowRow.window_start == window_start(now, limit.per_seconds),
                        )
                    )
                ).scalar_one_or_none()
                out[key] = value or 0
        return out

    async def prune(self, *, older_than_seconds: float = RATE_WINDOW_RETENTION_SECONDS) -> int:
        """Delete windows that started more than ``older_than_seconds`` ago; how many.

        A few rows per account and limit per window: one statement is enough.
        """
        cutoff = int(self._clock() - older_than_seconds)
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(RateWindowRow)
                .where(RateWindowRow.window_start < cutoff)
                .returning(RateWindowRow.key)
                .execution_options(synchronize_session=False)
            )
            return len(result.all())
