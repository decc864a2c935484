"""ListTopAuthors over real gRPC and a real database (SQLite and PostgreSQL): the window's authors,
their reshare/quote/reply graph, and the ranking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_scoring.queries_authors import (
    AuthorEdge,
    window_authors,
    window_interactions,
    window_mention_edges,
)
from scoring_api_support import (
    META,
    NEGATIVE,
    NOW,
    OTHER,
    OTHER_META,
    POSITIVE,
    Api,
    api,
    duration,
    mention,
    scored,
    violations,
)

assert api  # fixture

pytestmark = pytest.mark.integration


async def _graph(api: Api) -> None:
    star = {"handle": "star", "followers": 10_000, "verified": True, "display_name": "Star Person"}
    await api.add(
        scored(mention("s1", **star), POSITIVE, engagement=50),
        scored(mention("s2", **star, in_reply_to="s1"), POSITIVE, engagement=50),
        scored(mention("f1", handle="fan1", followers=50, reshare_of="s1"), POSITIVE, engagement=1),
        scored(mention("f1b", handle="fan1", followers=50, in_reply_to="s1"), NEGATIVE),
        scored(mention("f2", handle="fan2", followers=20, reshare_of="s1"), POSITIVE),
        scored(mention("f3", handle="fan3", followers=20, quote_of="s2")),
        scored(mention("lone", handle="loner", followers=5, names=["@Star", "@stranger", "loner"])),
        # the same author id on another network is another author
        scored(mention("n1", handle="star", network="othernet", followers=3)),
        # outside the window, and another label
        scored(
            mention("old", handle="ancient", followers=10**6, at=NOW - timedelta(days=30)), engagement=999
        ),
        scored(mention("rival", handle="rivalfan", labels=["globex"], reshare_of="s1")),
    )
    await api.add(scored(mention("t1", handle="theirs", tenant=OTHER), tenant=OTHER))


async def test_interactions_are_weighted_and_skip_self_replies(api: Api) -> None:
    await _graph(api)
    edges = await window_interactions(api.engine, "acme-corp", "acme", NOW - timedelta(days=7), NOW)
    assert edges == [
        AuthorEdge("testnet:id-fan1", "testnet:id-star", 1.5),  # reshare 1 + reply 0.5
        AuthorEdge("testnet:id-fan2", "testnet:id-star", 1.0),
        AuthorEdge("testnet:id-fan3", "testnet:id-star", 1.0),  # quote
    ]


async def test_named_handles_are_edges_to_window_authors_or_outsiders(api: Api) -> None:
    await _graph(api)
    start = NOW - timedelta(days=7)
    authors = await window_authors(api.engine, "acme-corp", "acme", start, NOW)
    edges = await window_mention_edges(api.engine, "acme-corp", "acme", start, NOW, authors=authors)
    assert edges == [
        AuthorEdge("testnet:id-loner", "testnet:@stranger", 0.5),  # not an author of the window
        AuthorEdge("testnet:id-loner", "testnet:id-star", 0.5),  # "@Star" is the star, case-insensitive
    ]  # naming oneself ("loner") is no edge


async def test_top_authors_rank_the_window(api: Api) -> None:
    await _graph(api)
    response = await api.stub.ListTopAuthors(pb.ListTopAuthorsRequest(label="acme"), metadata=META)
    assert response.label == "acme"
    authors = list(response.authors)
    assert [a.rank for a in authors] == list(range(1, 7))
    top = authors[0]
    assert (top.author_id, top.network, top.handle, top.display_name) == (
        "id-star",
        "testnet",
        "star",
        "Star Person",
    )
    assert (top.followers, top.verified, top.mention_count, top.engagement_earned) == (10_000, True, 2, 100)
    assert top.centrality == 1.0
    assert top.net_sentiment == 1.0
    assert 0 < top.score <= 1
    assert [a.score for a in authors] == sorted((a.score for a in authors), reverse=True)
    assert all(0 <= a.centrality <= 1 for a in authors)
    by_handle = {(a.network, a.handle): a for a in authors}
    assert set(by_handle) == {
        ("testnet", "star"),
        ("testnet", "fan1"),
        ("testnet", "fan2"),
        ("testnet", "fan3"),
        ("testnet", "loner"),
        ("othernet", "star"),
    }
    fan1 = by_handle[("testnet", "fan1")]
    assert (fan1.mention_count, fan1.engagement_earned, fan1.net_sentiment) == (2, 1, 0.0)
    assert by_handle[("testnet", "fan1")].rank < by_handle[("testnet", "loner")].rank
    limited = await api.stub.ListTopAuthors(pb.ListTopAuthorsRequest(label="acme", limit=2), metadata=META)
    assert [a.handle for a in limited.authors] == [a.handle for a in authors[:2]]
    month = await api.stub.ListTopAuthors(
        pb.ListTopAuthorsRequest(label="acme", window=duration(days=60)), metadata=META
    )
    assert "ancient" in {a.handle for a in month.authors}


async def test_top_authors_are_per_tenant(api: Api) -> None:
    await _graph(api)
    theirs = await api.stub.ListTopAuthors(pb.ListTopAuthorsRequest(label="acme"), metadata=OTHER_META)
    assert [a.handle for a in theirs.authors] == ["theirs"]
    assert theirs.authors[0].centrality == 1.0  # the only author holds all the PageRank


async def test_top_authors_validation(api: Api) -> None:
    found = await violations(
        api.stub.ListTopAuthors(
            pb.ListTopAuthorsRequest(label="", limit=500, window=duration(seconds=0)), metadata=META
        )
    )
    assert {v.field for v in found} == {"label", "limit", "window"}  # a zero window is set, not unset
    found = await violations(
        api.stub.ListTopAuthors(pb.ListTopAuthorsRequest(label="a", window=duration(days=-1)), metadata=META)
    )
    assert [v.field for v in found] == ["window"]
