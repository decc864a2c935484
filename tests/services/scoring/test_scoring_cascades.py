"""Cascade root resolution and materialisation, on the real databases.

The faust tables are replaced by plain dicts here (the processor only needs a MutableMapping); the
broker path, the tables' changelog and their recovery are tested in test_scoring_cascades_stream.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import CASCADE_LABELS, CASCADE_MEMBERS, CASCADES
from resonanz_scoring.analytics.cascade import structural_virality
from resonanz_scoring.models import metadata
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.streams.cascades import (
    MAX_POSTS_PER_EVENT,
    CascadeProcessor,
    CascadeStore,
    PostInfo,
    cascade_posts_events,
    parent_of,
    read_cascade_members,
)
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.db import create_engine
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT = "acme"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


def post(mention_id: str, parent: str = "", minute: int = 0, followers: int = 100, **kw: Any) -> PostInfo:
    return PostInfo(
        mention_id=f"sim:{mention_id}",
        parent_id=f"sim:{parent}" if parent else "",
        occurred_at=T0 + timedelta(minutes=minute),
        followers=followers,
        labels=kw.get("labels", ["Acme"]),
        author_handle=kw.get("handle", f"user_{mention_id}"),
        text=kw.get("text", "" if parent else f"text of {mention_id}"),
    )


def mention(
    external_id: str, *, reshare_of: str = "", reply_to: str = "", minute: int = 0
) -> mention_pb2.Mention:
    m = mention_pb2.Mention(
        id=f"sim:{external_id}",
        tenant=TENANT,
        network="sim",
        external_id=external_id,
        text=f"hello from {external_id}",
        reshare_of_id=reshare_of,
        in_reply_to_id=reply_to,
        labels=["Acme"],
        author=mention_pb2.Author(id=f"u{external_id}", handle=f"user_{external_id}", followers=50),
    )
    m.published_at.FromDatetime(T0 + timedelta(minutes=minute))
    return m


def score_of(m: mention_pb2.Mention) -> score_pb2.MentionScore:
    score = score_pb2.MentionScore(
        mention_id=m.id, tenant=TENANT, language="en", sentiment=score_pb2.SENTIMENT_NEUTRAL, scorer="t"
    )
    score.scored_at.FromDatetime(T0 + timedelta(hours=1))
    return score


async def cascade_rows(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(CASCADES).where(CASCADES.c.tenant == TENANT))).mappings().all()
    return {row["root_mention_id"]: dict(row) for row in rows}


def test_parent_prefers_reshare_then_quote_then_reply() -> None:
    m = mention_pb2.Mention(id="sim:5", network="sim", in_reply_to_id="1", quote_of_id="2", reshare_of_id="3")
    assert parent_of(m) == "sim:3"
    m.ClearField("reshare_of_id")
    assert parent_of(m) == "sim:2"
    m.ClearField("quote_of_id")
    assert parent_of(m) == "sim:1"
    m.ClearField("in_reply_to_id")
    assert parent_of(m) == ""
    assert parent_of(mention_pb2.Mention(id="sim:5", network="sim", reshare_of_id="5")) == ""


def test_observer_events_group_by_tenant_and_network_once_per_post() -> None:
    a = mention("1")
    b = mention("2", reshare_of="1")
    other = mention_pb2.Mention(id="x:9", network="x", external_id="9", text="t")
    items = [ScoredItem(TENANT, m, score_of(m)) for m in (a, b, b, other)]
    events = cascade_posts_events(items)
    assert [key for key, _ in events] == [b"acme\x00sim", b"acme\x00x"]
    first = events[0][1]
    assert first.WhichOneof("payload") == "cascade_posts"
    assert [p.mention_id for p in first.cascade_posts.posts] == ["sim:1", "sim:2"]
    assert first.cascade_posts.posts[1].parent_id == "sim:1"
    assert first.cascade_posts.posts[0].text == "hello from 1"
    assert first.cascade_posts.posts[1].text == ""  # only roots carry their text
    assert isinstance(events[1][1], events_pb2.EventEnvelope)


async def test_known_cascade_gives_known_structural_virality(engine: AsyncEngine) -> None:
    # root r; r <- a, r <- b; a <- c (a reshare of a reshare: in r's cascade, under a).
    processor = CascadeProcessor({}, {}, CascadeStore(engine))
    posts = [post("r"), post("a", "r", 1), post("b", "r", 2), post("c", "a", 3)]
    await processor.process(TENANT, "sim", posts)
    rows = await cascade_rows(engine)
    assert list(rows) == ["sim:r"]
    row = rows["sim:r"]
    expected = structural_virality({"r": None, "a": "r", "b": "r", "c": "a"})
    assert row["size"] == 4
    assert row["depth"] == 2
    assert row["structural_virality"] == pytest.approx(expected)
    assert row["structural_virality"] == pytest.approx(10 / 6)  # distances: 1,1,2,2,3,1 over 6 pairs
    assert row["root_seen"] is True
    assert row["root_author_handle"] == "user_r"
    assert row["root_text"] == "text of r"
    assert row["labels"] == ["Acme"]
    members = await read_cascade_members(engine, TENANT, ["sim:r", "sim:a", "sim:b", "sim:c"])
    assert members == dict.fromkeys(["sim:r", "sim:a", "sim:b", "sim:c"], "sim:r")


async def test_a_reshare_counted_twice_is_counted_once(engine: AsyncEngine) -> None:
    cascades: dict[str, Any] = {}
    index: dict[str, Any] = {}
    processor = CascadeProcessor(cascades, index, CascadeStore(engine))
    await processor.process(TENANT, "sim", [post("r"), post("a", "r", 1)])
    again = await processor.process(TENANT, "sim", [post("a", "r", 1), post("a", "r", 1), post("r")])
    assert not again.members
    assert (await cascade_rows(engine))["sim:r"]["size"] == 2


async def test_a_lone_post_costs_no_state_and_is_found_in_the_store_when_a_child_arrives(
    engine: AsyncEngine,
) -> None:
    root = mention("10", minute=0)
    await ScoreStore(engine).save_batch([(root, score_of(root))])
    cascades: dict[str, Any] = {}
    index: dict[str, Any] = {}
    processor = CascadeProcessor(cascades, index, CascadeStore(engine))
    await processor.process(TENANT, "sim", [post("10")])
    assert not cascades
    assert not index
    assert await cascade_rows(engine) == {}
    await processor.process(TENANT, "sim", [post("11", "10", 5)])
    row = (await cascade_rows(engine))["sim:10"]
    assert row["size"] == 2
    assert row["root_seen"] is True
    assert row["root_text"] == "hello from 10"
    assert row["started_at"].replace(tzinfo=UTC) == T0


async def test_orphans_wait_for_their_root_and_are_re_rooted_when_it_has_a_parent(
    engine: AsyncEngine,
) -> None:
    cascades: dict[str, Any] = {}
    index: dict[str, Any] = {}
    processor = CascadeProcessor(cascades, index, CascadeStore(engine))
    # x and y reply to p, which nobody has seen yet: a cascade keyed by p waits for it.
    await processor.process(TENANT, "sim", [post("x", "p", 5), post("y", "x", 6)])
    rows = await cascade_rows(engine)
    assert rows["sim:p"]["root_seen"] is False
    assert rows["sim:p"]["size"] == 3  # the awaited root, x and y
    # p arrives as a reshare of q, which starts an own cascade with its reshare z.
    await processor.process(TENANT, "sim", [post("q", minute=0), post("z", "q", 1)])
    await processor.process(TENANT, "sim", [post("p", "q", 2)])
    rows = await cascade_rows(engine)
    assert list(rows) == ["sim:q"]
    assert rows["sim:q"]["size"] == 5  # q, z, p, x, y
    assert rows["sim:q"]["depth"] == 3  # q -> p -> x -> y
    expected = structural_virality({"q": None, "z": "q", "p": "q", "x": "p", "y": "x"})
    assert rows["sim:q"]["structural_virality"] == pytest.approx(expected)
    members = await read_cascade_members(engine, TENANT, ["sim:p", "sim:x", "sim:y", "sim:z"])
    assert set(members.values()) == {"sim:q"}
    assert "acme\x00sim:p" not in cascades
    async with engine.connect() as conn:
        labels = (await conn.execute(select(CASCADE_LABELS.c.root_mention_id))).scalars().all()
        assert labels == ["sim:q"]
        count = len((await conn.execute(select(CASCADE_MEMBERS))).all())
    assert count == 5


async def test_an_awaited_root_without_parent_takes_its_seat(engine: AsyncEngine) -> None:
    processor = CascadeProcessor({}, {}, CascadeStore(engine))
    await processor.process(TENANT, "sim", [post("c1", "root", 3)])
    await processor.process(TENANT, "sim", [post("root", minute=0, followers=1000, text="the original")])
    row = (await cascade_rows(engine))["sim:root"]
    assert row["root_seen"] is True
    assert row["size"] == 2
    assert row["root_text"] == "the original"
    assert row["estimated_reach"] >= 1000
    assert row["started_at"].replace(tzinfo=UTC) == T0


async def test_a_chain_in_one_event_out_of_order_is_one_cascade(engine: AsyncEngine) -> None:
    processor = CascadeProcessor({}, {}, CascadeStore(engine))
    await processor.process(
        TENANT, "sim", [post("c", "b", 3), post("b", "a", 2), post("a", minute=0), post("d", "a", 4)]
    )
    rows = await cascade_rows(engine)
    assert list(rows) == ["sim:a"]
    assert rows["sim:a"]["size"] == 4
    assert rows["sim:a"]["depth"] == 2


async def test_tenants_are_walls(engine: AsyncEngine) -> None:
    cascades: dict[str, Any] = {}
    processor = CascadeProcessor(cascades, {}, CascadeStore(engine))
    await processor.process(TENANT, "sim", [post("r"), post("a", "r", 1)])
    await processor.process("other", "sim", [post("b", "r", 2)])
    rows = await cascade_rows(engine)
    assert rows["sim:r"]["size"] == 2
    assert rows["sim:r"]["root_seen"] is True
    async with engine.connect() as conn:
        other = (await conn.execute(select(CASCADES).where(CASCADES.c.tenant == "other"))).mappings().one()
    assert other["root_seen"] is False  # the other tenant does not see acme's root


def test_a_large_batch_is_sent_in_ordered_chunks() -> None:
    items = [
        ScoredItem(TENANT, m, score_of(m)) for m in (mention(str(i)) for i in range(MAX_POSTS_PER_EVENT + 3))
    ]
    events = cascade_posts_events(items)
    assert [len(e.cascade_posts.posts) for _, e in events] == [MAX_POSTS_PER_EVENT, 3]
    assert {key for key, _ in events} == {b"acme\x00sim"}
    assert events[1][1].cascade_posts.posts[0].mention_id == f"sim:{MAX_POSTS_PER_EVENT}"
    assert max(len(e.SerializeToString()) for _, e in events) < 1_000_000


async def test_a_post_seen_again_writes_nothing_and_a_cycle_in_the_data_ends(engine: AsyncEngine) -> None:
    cascades: dict[str, Any] = {}
    processor = CascadeProcessor(cascades, {}, CascadeStore(engine))
    await processor.process(TENANT, "sim", [post("r"), post("a", "r", 1)])
    again = await processor.process(TENANT, "sim", [post("a", "r", 1)])
    assert not again.dirty
    # x replies to y, which nobody has seen; y then turns out to reply to x.
    await processor.process(TENANT, "sim", [post("x", "y", 5)])
    await processor.process(TENANT, "sim", [post("y", "x", 4)])
    rows = await cascade_rows(engine)
    assert rows["sim:y"]["size"] == 2
    assert rows["sim:y"]["root_seen"] is True
