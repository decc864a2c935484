"""SearchMentions over a real gRPC channel on both databases: syntax, stemming, filters, pages, walls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from listening_history_helpers import History, open_history, raw
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_listening import search
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import field_violations, tenant_metadata

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")
NOW = datetime.now(UTC).replace(microsecond=0)


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


@pytest.fixture
async def history(database_url: str) -> AsyncIterator[History]:
    h = await open_history(database_url)
    try:
        yield h
    finally:
        await h.close()


async def texts(history: History, text: str = "", *, metadata: object = ACME, **filters: object) -> list[str]:
    request = pb.SearchMentionsRequest(text=text, **filters)  # type: ignore[arg-type]
    response = await history.stub().SearchMentions(request, metadata=metadata)
    return [m.text for m in response.mentions]


async def invalid(history: History, request: pb.SearchMentionsRequest) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await history.stub().SearchMentions(request, metadata=ACME)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return {v.field: v.description for v in field_violations(info.value)}


async def seed(history: History) -> None:
    await history.ingest(
        "acme",
        [
            raw("Die Lieferungen kommen heute", language="de", published_at=NOW - timedelta(hours=1)),
            raw("The new phone is great", published_at=NOW - timedelta(hours=2)),
            raw("A new shiny phone arrived", published_at=NOW - timedelta(hours=3)),
            raw("My phone is broken again", published_at=NOW - timedelta(hours=4)),
            raw("Wo bleibt meine Lieferung?", language="de-AT", published_at=NOW - timedelta(hours=5)),
        ],
    )
    await history.ingest(
        "acme",
        [raw("Competitor phone deliveries", published_at=NOW - timedelta(hours=6))],
        label="Globex brand",
        network="other",
    )
    await history.ingest("globex", [raw("Globex secret phone Lieferung", published_at=NOW)])


async def test_words_phrases_exclusion_or(history: History) -> None:
    await seed(history)
    assert await texts(history, '"new phone"') == ["The new phone is great"]
    assert await texts(history, "new phone") == ["The new phone is great", "A new shiny phone arrived"]
    assert await texts(history, "phone -broken -competitor") == [
        "The new phone is great",
        "A new shiny phone arrived",
    ]
    assert await texts(history, 'PHONE -"new phone" -shiny') == [
        "My phone is broken again",
        "Competitor phone deliveries",
    ]
    assert await texts(history, "broken OR kommen") == [
        "Die Lieferungen kommen heute",
        "My phone is broken again",
    ]
    assert await texts(history, "") == [  # no text: everything of the tenant, newest first
        "Die Lieferungen kommen heute",
        "The new phone is great",
        "A new shiny phone arrived",
        "My phone is broken again",
        "Wo bleibt meine Lieferung?",
        "Competitor phone deliveries",
    ]


async def test_stemming_by_the_mentions_language(history: History) -> None:
    await seed(history)
    found = await texts(history, "Lieferung")
    if history.dialect == "postgresql":
        # German stemming for "de" and "de-AT" mentions: the singular finds the plural and back.
        assert found == ["Die Lieferungen kommen heute", "Wo bleibt meine Lieferung?"]
        assert await texts(history, "lieferungen") == found
        assert await texts(history, "phones") == [  # English stemming for "en"
            "The new phone is great",
            "A new shiny phone arrived",
            "My phone is broken again",
            "Competitor phone deliveries",
        ]
    else:
        # SQLite: Porter (English) stemming only, no German stemmer.
        assert found == ["Wo bleibt meine Lieferung?"]
        assert len(await texts(history, "phones")) == 4


async def test_filters(history: History) -> None:
    await seed(history)
    assert await texts(history, "phone", labels=["Globex brand"]) == ["Competitor phone deliveries"]
    assert await texts(history, "phone", networks=["other"]) == ["Competitor phone deliveries"]
    assert await texts(history, "", languages=["de"]) == [
        "Die Lieferungen kommen heute",
        "Wo bleibt meine Lieferung?",
    ]
    acme_query = history.queries[("acme", "Acme")]
    assert len(await texts(history, "phone", query_ids=[acme_query])) == 3
    assert await texts(history, "phone", query_ids=["0" * 32]) == []
    window = await texts(history, "", since=ts(NOW - timedelta(hours=4)), until=ts(NOW - timedelta(hours=2)))
    assert window == ["A new shiny phone arrived", "My phone is broken again"]  # until is exclusive


async def test_pages_are_newest_first_without_gaps_or_repeats(history: History) -> None:
    base = NOW - timedelta(days=1)
    # Two mentions share a publication time: the seq breaks the tie.
    times = [base - timedelta(minutes=m) for m in (0, 1, 1, 2, 3, 4, 5)]
    await history.ingest("acme", [raw(f"page phone {i}", published_at=t) for i, t in enumerate(times)])
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        response = await history.stub().SearchMentions(
            pb.SearchMentionsRequest(text="phone", page_size=3, page_token=token), metadata=ACME
        )
        seen.extend(m.text for m in response.mentions)
        pages += 1
        token = response.next_page_token
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen[0] == "page phone 0"
    assert seen[-1] == "page phone 6"
    assert set(seen[1:3]) == {"page phone 1", "page phone 2"}

    first = await history.stub().SearchMentions(
        pb.SearchMentionsRequest(text="phone", page_size=3), metadata=ACME
    )
    token = first.next_page_token
    # The token belongs to this search: other text, other filters, another tenant, or an edit: refused.
    assert "page_token" in await invalid(history, pb.SearchMentionsRequest(text="page", page_token=token))
    assert "page_token" in await invalid(
        history, pb.SearchMentionsRequest(text="phone", labels=["Acme"], page_token=token)
    )
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert "page_token" in await invalid(history, pb.SearchMentionsRequest(text="phone", page_token=tampered))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await history.stub().SearchMentions(
            pb.SearchMentionsRequest(text="phone", page_token=token), metadata=GLOBEX
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_tenant_walls(history: History) -> None:
    await seed(history)
    assert await texts(history, "secret") == []
    assert await texts(history, "secret", metadata=GLOBEX) == ["Globex secret phone Lieferung"]
    acme_query = history.queries[("acme", "Acme")]
    assert await texts(history, "", metadata=GLOBEX, query_ids=[acme_query]) == []


@pytest.mark.parametrize(
    "text",
    [
        "' OR 1=1 --",
        "phone'; DROP TABLE listening_mentions; --",
        "NEAR(phone broken, 2)",
        "phon*",
        "^phone",
        "search_text:phone",
        "phone AND broken NOT new",
        "{phone broken}",
        "phone + broken",
        "phone :* & | ! <->",
        "\\ % _ phone",
    ],
)
async def test_injection_attempts_are_searched_as_text(history: History, text: str) -> None:
    await seed(history)
    found = await texts(history, text)  # never an error, never more than the words allow
    parsed = search.parse(text)
    assert parsed is not None
    words = {w for g in parsed.groups for t in g.include for w in t.words}
    stored = await texts(history, "")
    for hit in found:
        assert hit in stored
        assert any(w in hit.casefold() or w.rstrip("s") in hit.casefold() for w in words)
    assert len(await texts(history, "")) == 6  # nothing was changed


async def test_validation(history: History) -> None:
    assert await invalid(history, pb.SearchMentionsRequest(text="x" * 501)) == {
        "text": "must be at most 500 characters (is 501)"
    }
    assert (
        "unterminated quote at position 7"
        in (await invalid(history, pb.SearchMentionsRequest(text='phone "new')))["text"]
    )
    assert "only excludes" in (await invalid(history, pb.SearchMentionsRequest(text="-phone")))["text"]
    assert "no word" in (await invalid(history, pb.SearchMentionsRequest(text="!!! ???")))["text"]
    violations = await invalid(
        history,
        pb.SearchMentionsRequest(
            labels=[""],
            networks=["n" * 64],
            query_ids=[" "],
            languages=["DE", "xx"],
            page_size=-1,
            since=ts(NOW),
            until=ts(NOW - timedelta(hours=1)),
            page_token="garbage",
        ),
    )
    assert set(violations) == {
        "labels[0]",
        "networks[0]",
        "query_ids[0]",
        "languages[0]",
        "languages[1]",
        "page_size",
        "until",
        "page_token",
    }


def test_parse_renders_only_quoted_terms() -> None:
    query = search.parse('"new phone" -broken OR or NEAR(x) "a""b"')
    assert query is not None
    assert query.websearch() == '"new phone" -broken or "near x" a b'
    assert query.fts5() == '(("new phone") NOT "broken") OR ("near x" AND "a" AND "b")'
    with pytest.raises(ValidationError):
        search.parse("a " * 65)
    assert search.parse("   ") is None


async def test_a_mention_matched_later_by_another_query_is_found_by_that_query(history: History) -> None:
    mention = raw("acme and globex compared", external_id="both")
    await history.ingest("acme", [mention], label="Acme")
    await history.ingest("acme", [mention], label="Globex brand")  # the same post, another query
    later = history.queries[("acme", "Globex brand")]
    assert await texts(history, "compared", query_ids=[later]) == ["acme and globex compared"]
    assert await texts(history, "compared", labels=["Globex brand"]) == ["acme and globex compared"]
    assert len(await texts(history, "")) == 1  # stored once
