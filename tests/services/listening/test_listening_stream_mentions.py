"""StreamMentions over a real gRPC channel on both databases: resume after a reconnect without gaps or
repeats, then live; query_ids/labels/networks filters; validation; writers commit in seq order."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from listening_helpers import eventually
from listening_history_helpers import History, open_history, raw
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_listening.models import MentionRow
from resonanz_sdk.grpc import field_violations, tenant_metadata
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")


@pytest.fixture
async def history(database_url: str) -> AsyncIterator[History]:
    h = await open_history(database_url)
    try:
        yield h
    finally:
        await h.close()


async def take(
    history: History, request: pb.StreamMentionsRequest, n: int
) -> list[pb.StreamMentionsResponse]:
    """The first ``n`` responses of a stream, then the stream is cancelled (a client going away)."""
    call = history.stub().StreamMentions(request, metadata=ACME)
    out: list[pb.StreamMentionsResponse] = []
    try:
        async with asyncio.timeout(20):
            async for response in call:
                out.append(response)
                if len(out) == n:
                    break
    finally:
        call.cancel()
    return out


async def test_resume_after_reconnect_neither_skips_nor_repeats(history: History) -> None:
    await history.ingest("acme", [raw(f"acme {i}") for i in range(5)])
    await history.ingest("globex", [raw("globex 0")])
    first = await take(history, pb.StreamMentionsRequest(), 3)
    assert [r.mention.text for r in first] == ["acme 0", "acme 1", "acme 2"]

    await history.ingest("acme", [raw("acme 5"), raw("acme 6")])  # stored while disconnected
    call = history.stub().StreamMentions(pb.StreamMentionsRequest(cursor=first[-1].cursor), metadata=ACME)
    got: list[str] = []
    try:
        async with asyncio.timeout(20):
            async for response in call:
                got.append(response.mention.text)
                if len(got) == 4:  # caught up: the next one can only come live
                    await history.ingest("acme", [raw("acme 7")])
                if len(got) == 5:
                    break
    finally:
        call.cancel()
    assert got == ["acme 3", "acme 4", "acme 5", "acme 6", "acme 7"]


async def test_filters(history: History) -> None:
    await history.ingest("acme", [raw("brand a"), raw("brand b")], label="Brand")
    await history.ingest("acme", [raw("rival a")], label="Rival", network="other")
    await history.ingest("acme", [raw("brand c")], label="Brand")
    brand_query = history.queries[("acme", "Brand")]
    by_query = await take(history, pb.StreamMentionsRequest(query_ids=[brand_query]), 3)
    assert [r.mention.text for r in by_query] == ["brand a", "brand b", "brand c"]
    assert all(brand_query in r.mention.query_ids for r in by_query)
    by_label = await take(history, pb.StreamMentionsRequest(labels=["Rival"]), 1)
    assert [r.mention.text for r in by_label] == ["rival a"]
    by_network = await take(history, pb.StreamMentionsRequest(networks=["other"]), 1)
    assert [r.mention.text for r in by_network] == ["rival a"]
    # Another tenant's query id filters to nothing (never to that tenant's mentions).
    await history.ingest("globex", [raw("globex brand")], label="Brand")
    globex_query = history.queries[("globex", "Brand")]
    await history.ingest("acme", [raw("brand d")], label="Brand")
    mixed = await take(history, pb.StreamMentionsRequest(query_ids=[globex_query, brand_query]), 4)
    assert [r.mention.text for r in mixed] == ["brand a", "brand b", "brand c", "brand d"]


async def test_validation(history: History) -> None:
    for request, fields in (
        (pb.StreamMentionsRequest(query_ids=[""], labels=["x" * 201]), {"query_ids[0]", "labels[0]"}),
        (pb.StreamMentionsRequest(cursor="not-a-cursor"), {"cursor"}),
    ):
        call = history.stub().StreamMentions(request, metadata=ACME)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(info.value)} == fields


async def test_mention_writers_commit_in_seq_order(history: History, database_url: str) -> None:
    """A writer that started later cannot take a seq below one still uncommitted (a stream that
    read past it would skip it): PostgreSQL serialises writers with the advisory lock, SQLite has one
    write lock per database."""

    def row(mention_id: str) -> MentionRow:
        now = datetime.now(UTC)
        return MentionRow(
            tenant="acme",
            mention_id=mention_id,
            network="scripted",
            search_text="x",
            collected_at=now,
            published_at=now,
            language="en",
            payload=b"",
        )

    async with history.sessions() as first, first.begin():
        await history.hooks.begin(first)
        a = row("scripted:a")
        first.add(a)
        await first.flush()
        if history.dialect == "postgresql":

            async def second_writer() -> int:
                async with history.sessions() as second, second.begin():
                    await history.hooks.begin(second)
                    b = row("scripted:b")
                    second.add(b)
                    await second.flush()
                    return b.seq

            task = asyncio.create_task(second_writer())

            async def waiting_for_the_lock() -> bool:
                async with history.engine.connect() as conn:
                    waiting = await conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                        )
                    )
                return bool(waiting)

            await eventually(waiting_for_the_lock)
        else:
            # Another process's writer cannot even begin while this transaction is open.
            path = make_url(database_url).database
            assert path is not None
            other = sqlite3.connect(path, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    if history.dialect == "postgresql":
        assert await task > a.seq
