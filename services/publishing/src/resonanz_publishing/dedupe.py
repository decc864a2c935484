"""Processed publish-request event ids in the database, so redeliveries are skipped across restarts.

Implements the sdk's ``ProcessedEvents`` protocol for the worker's EventConsumer. The target's own
status is the real guard against publishing twice; this table saves the work of looking.
"""

from __future__ import annotations

from collections.abc import Iterable

from resonanz_sdk.db import session_factory
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.convert import now_utc
from resonanz_publishing.models import ProcessedEventRow


class DatabaseProcessedEvents:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"

    async def filter_new(self, ids: Iterable[str]) -> set[str]:
        wanted = set(ids)
        if not wanted:
            return set()
        async with self._sessions() as session:
            seen = (
                await session.execute(
                    select(ProcessedEventRow.event_id).where(ProcessedEventRow.event_id.in_(wanted))
                )
            ).scalars()
            return wanted - set(seen)

    async def mark(self, ids: Iterable[str]) -> None:
        rows = [{"event_id": event_id, "processed_at": now_utc()} for event_id in set(ids)]
        if not rows:
            return
        insert = sqlite_insert if self._sqlite else pg_insert
        async with self._sessions.begin() as session:
            await session.execute(insert(ProcessedEventRow).values(rows).on_conflict_do_nothing())
