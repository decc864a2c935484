"""Retention: expired mentions are pruned in batches with everything that hangs off them, and a pruned
mention collected again is not stored (nor sent to mentions.raw) a second time. Both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from listening_history_helpers import History, open_history, raw
from prometheus_client import REGISTRY
from resonanz_listening import search
from resonanz_listening.models import MentionLabelRow, MentionQueryRow, MentionRow, OutboxRow
from resonanz_listening.retention import GRACE, RetentionPruner
from sqlalchemy import func, select, text, update

pytestmark = pytest.mark.integration

RETENTION = timedelta(days=10)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def history(database_url: str, clock: Clock) -> AsyncIterator[History]:
    h = await open_history(database_url, serve=False, retention=RETENTION, clock=clock)
    try:
        yield h
    finally:
        await h.close()


async def count(history: History, table: type) -> int:
    async with history.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def pruned_total() -> float:
    return REGISTRY.get_sample_value("resonanz_mentions_pruned_total") or 0.0


async def test_expired_mentions_are_pruned_in_batches(history: History, clock: Clock) -> None:
    start = clock.now
    old = [raw(f"expiring zebra {i}", published_at=start - timedelta(days=9, hours=i)) for i in range(5)]
    young = [raw("fresh zebra", published_at=start - timedelta(days=2))]
    await history.ingest("acme", [*old, *young])
    await history.ingest("acme", old[:2], label="Other")  # more label and query-id rows
    assert await count(history, MentionRow) == 6
    assert await count(history, MentionLabelRow) == 8
    assert await count(history, MentionQueryRow) == 8

    pruner = RetentionPruner(history.sessions, retention=RETENTION, batch_size=2, clock=clock)
    assert await pruner.prune_once() == 0  # nothing is older than the retention yet
    clock.now = start + timedelta(days=1) + GRACE + timedelta(minutes=1)  # now 10 days and more
    before = pruned_total()
    assert await pruner.prune_once() == 5  # three batches of at most two
    assert pruned_total() - before == 5
    assert await count(history, MentionRow) == 1
    assert await count(history, MentionLabelRow) == 1
    assert await count(history, MentionQueryRow) == 1
    rows, _ = await history.store.search_mentions("acme", query=search.parse("zebra"))
    assert [r.search_text for r in rows] == ["fresh zebra"]  # the full-text entries went too
    if history.dialect == "sqlite":  # FTS5 checks its index against the content table
        async with history.sessions() as session, session.begin():
            await session.execute(
                text(f"INSERT INTO {search.FTS_TABLE}({search.FTS_TABLE}) VALUES ('integrity-check')")
            )
    assert await pruner.prune_once() == 0


async def test_a_pruned_mention_collected_again_is_not_stored_again(history: History, clock: Clock) -> None:
    start = clock.now
    mention = raw("late acme", published_at=start - timedelta(days=9), external_id="late-1")
    await history.ingest("acme", [mention])
    assert await count(history, OutboxRow) == 1
    async with history.sessions() as session, session.begin():
        await session.execute(update(OutboxRow).values(sent=True))

    clock.now = start + timedelta(days=2)
    pruner = RetentionPruner(history.sessions, retention=RETENTION, batch_size=100, clock=clock)
    assert await pruner.prune_once() == 1
    await history.ingest("acme", [mention])  # a late poll or a backfill finds it again
    assert await count(history, MentionRow) == 0
    assert await count(history, OutboxRow) == 1  # no second mentions.raw event

    # A mention still inside the retention is stored as ever.
    await history.ingest("acme", [raw("new acme", published_at=clock.now - timedelta(days=1))])
    assert await count(history, MentionRow) == 1
    assert await count(history, OutboxRow) == 2


async def test_old_sent_outbox_rows_go_too(history: History, clock: Clock) -> None:
    await history.ingest("acme", [raw("acme one"), raw("acme two")])
    async with history.sessions() as session, session.begin():
        first = await session.scalar(select(func.min(OutboxRow.id)))
        await session.execute(update(OutboxRow).where(OutboxRow.id == first).values(sent=True))
    clock.now += timedelta(days=8)
    await RetentionPruner(history.sessions, retention=RETENTION, clock=clock).prune_once()
    async with history.sessions() as session:
        left = list(await session.scalars(select(OutboxRow.sent)))
    assert left == [False]  # the unsent row stays whatever its age
