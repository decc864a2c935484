"""Search: matching, filters and cursor semantics (no duplicates, no gaps, durable across a restart)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from resonanz_sdk.errors import PermanentNetworkError
from resonanz_sdk.network import AccountRef, OutgoingPost, RawMention, SearchRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

TERMS = ("Resonanz", "@resonanz")


async def _all_pages(
    network: SimulatedNetwork, request: SearchRequest
) -> tuple[list[RawMention], str | None]:
    cursor, seen = request.cursor, list[RawMention]()
    while True:
        page = await network.search(
            SearchRequest(
                terms=request.terms, languages=request.languages, cursor=cursor, limit=request.limit
            )
        )
        if not page.mentions:
            assert page.next_cursor == cursor
            return seen, cursor
        assert len(page.mentions) <= request.limit
        seen.extend(page.mentions)
        cursor = page.next_cursor


async def test_a_listening_query_finds_organic_mentions_within_minutes(
    network: SimulatedNetwork, clock: ManualClock
) -> None:
    clock.advance(5 * 60)
    page = await network.search(SearchRequest(terms=TERMS))
    assert page.mentions
    assert all("resonanz" in m.text.casefold() for m in page.mentions)
    clock.advance(15 * 60)
    page = await network.search(SearchRequest(terms=TERMS, cursor=page.next_cursor, limit=500))
    assert any("@resonanz" in m.text for m in page.mentions)


async def test_matching_is_case_insensitive_and_knows_tags_and_handles(
    network: SimulatedNetwork, world: SimulatedWorld, clock: ManualClock
) -> None:
    clock.advance(3600)
    lower = await network.search(SearchRequest(terms=("resonanz",), limit=500))
    upper = await network.search(SearchRequest(terms=("RESONANZ",), limit=500))
    assert [m.external_id for m in lower.mentions] == [m.external_id for m in upper.mentions]
    expected = [p.external_id for p in world.posts() if "resonanz" in p.text.casefold()][:500]
    assert [m.external_id for m in lower.mentions] == expected

    tags = await network.search(SearchRequest(terms=("#klangwerk",), limit=500))
    assert tags.mentions
    assert all("klangwerk" in [h.casefold() for h in m.hashtags] for m in tags.mentions)
    handles = await network.search(SearchRequest(terms=("@klangwerk",), limit=500))
    assert handles.mentions
    assert all("klangwerk" in m.mentions for m in handles.mentions)
    # Oldest first.
    times = [m.published_at for m in lower.mentions]
    assert times == sorted(times)


async def test_search_mentions_carry_authors_and_cascades(
    network: SimulatedNetwork, clock: ManualClock
) -> None:
    clock.advance(4 * 3600)
    mentions, _ = await _all_pages(network, SearchRequest(terms=TERMS, limit=500))
    by_id = {m.external_id: m for m in mentions}
    reshares = [m for m in mentions if m.reshare_of]
    assert reshares
    assert any(by_id.get(m.reshare_of or "") and by_id[m.reshare_of or ""].reshare_of for m in reshares)
    assert any(m.author.followers >= 50_000 for m in mentions)
    assert any(m.author.verified for m in mentions)
    assert {m.language for m in mentions} == {"de", "en"}
    assert all(m.url.endswith(m.external_id) for m in mentions)


async def test_language_and_since_filters(network: SimulatedNetwork, clock: ManualClock) -> None:
    start = clock.now()
    clock.advance(3600)
    german = await network.search(SearchRequest(terms=TERMS, languages=("de",), limit=500))
    assert german.mentions
    assert {m.language for m in german.mentions} == {"de"}
    since = start + timedelta(minutes=30)
    late = await network.search(SearchRequest(terms=TERMS, since=since, limit=500))
    assert late.mentions
    assert all(m.published_at >= since for m in late.mentions)


async def test_pages_have_no_duplicates_and_no_gaps(network: SimulatedNetwork, clock: ManualClock) -> None:
    clock.advance(2 * 3600)
    network.world.advance()
    everything = network.world.search(TERMS, after_seq=None, limit=1_000_000)
    assert len(everything) > 100
    paged, cursor = await _all_pages(network, SearchRequest(terms=TERMS, limit=7))
    ids = [m.external_id for m in paged]
    assert len(ids) == len(set(ids))
    assert ids == [p.external_id for p in everything]
    # Time passes, the world moves on: the cursor continues exactly where it stopped.
    clock.advance(3600)
    more, _ = await _all_pages(network, SearchRequest(terms=TERMS, cursor=cursor, limit=7))
    assert more
    assert not set(ids) & {m.external_id for m in more}
    whole = network.world.search(TERMS, after_seq=None, limit=1_000_000)
    assert [p.external_id for p in whole] == ids + [m.external_id for m in more]


async def test_nothing_new_keeps_the_cursor(network: SimulatedNetwork, clock: ManualClock) -> None:
    clock.advance(600)
    page = await network.search(SearchRequest(terms=TERMS, limit=500))
    again = await network.search(SearchRequest(terms=TERMS, cursor=page.next_cursor))
    assert again.mentions == ()
    assert again.next_cursor == page.next_cursor
    nothing = await network.search(SearchRequest(terms=("kein-treffer-xyz",)))
    assert nothing.mentions == ()
    assert nothing.next_cursor is None


async def test_the_cursor_survives_a_restart_with_the_same_seed() -> None:
    first_clock = ManualClock()
    first = SimulatedNetwork(SimulatedWorld(5, first_clock), settings=Settings(simulated_faults=""))
    first_clock.advance(1800)
    seen, cursor = await _all_pages(first, SearchRequest(terms=TERMS, limit=50))
    first_clock.advance(1800)
    continued, _ = await _all_pages(first, SearchRequest(terms=TERMS, cursor=cursor, limit=50))

    # A new process: same seed, the clock where the first one was.
    second_clock = ManualClock(first_clock.now() - timedelta(seconds=1800))
    second = SimulatedNetwork(SimulatedWorld(5, second_clock), settings=Settings(simulated_faults=""))
    second_clock.advance(1800)
    resumed, _ = await _all_pages(second, SearchRequest(terms=TERMS, cursor=cursor, limit=50))
    assert resumed
    assert not {m.external_id for m in seen} & {m.external_id for m in resumed}

    # Organic posts (not reactions to what the first process saw) are the same in both processes.
    def originals(mentions: list[RawMention]) -> list[str]:
        return [m.text for m in mentions if m.reshare_of is None and m.in_reply_to is None]

    assert len(originals(resumed)) > 10
    assert originals(resumed) == originals(continued)


async def test_a_cursor_from_a_faster_earlier_run_restarts_from_the_oldest_post() -> None:
    fast_clock = ManualClock()
    fast = SimulatedNetwork(SimulatedWorld(5, fast_clock), settings=Settings(simulated_faults=""))
    fast_clock.advance(6 * 3600)
    _, cursor = await _all_pages(fast, SearchRequest(terms=TERMS, limit=500))
    slow = SimulatedNetwork(SimulatedWorld(5, ManualClock()), settings=Settings(simulated_faults=""))
    slow.world.clock.advance(600)  # type: ignore[attr-defined]
    page = await slow.search(SearchRequest(terms=TERMS, cursor=cursor, limit=500))
    assert page.mentions
    assert page.mentions[0].external_id == slow.world.search(TERMS, after_seq=None, limit=1)[0].external_id


async def test_bad_requests_are_refused(network: SimulatedNetwork) -> None:
    with pytest.raises(PermanentNetworkError, match="cursor"):
        await network.search(SearchRequest(terms=TERMS, cursor="garbage"))
    with pytest.raises(PermanentNetworkError, match="cursor"):
        await network.search(SearchRequest(terms=TERMS, cursor="sim1:zz"))
    with pytest.raises(PermanentNetworkError, match="term"):
        await network.search(SearchRequest(terms=(" ",)))


async def test_deleted_posts_disappear_from_search(network: SimulatedNetwork, clock: ManualClock) -> None:
    account = AccountRef(network="simulated", handle="resonanz")
    published = await network.publish(
        account, OutgoingPost(text="Resonanz Sommerangebot", idempotency_key="d")
    )
    clock.advance(60)
    assert published.external_id in [
        m.external_id for m in (await network.search(SearchRequest(TERMS))).mentions
    ]
    await network.delete(account, published.external_id)
    mentions, _ = await _all_pages(network, SearchRequest(terms=TERMS, limit=500))
    assert published.external_id not in [m.external_id for m in mentions]
    assert mentions  # everything else is still there


async def test_searched_terms_start_being_talked_about(network: SimulatedNetwork, clock: ManualClock) -> None:
    first = await network.search(SearchRequest(terms=("Fahrradhelm",)))
    assert first.mentions == ()
    clock.advance(3600)
    later = await network.search(SearchRequest(terms=("Fahrradhelm",), cursor=first.next_cursor))
    assert later.mentions
    assert all("fahrradhelm" in m.text.casefold() for m in later.mentions)
