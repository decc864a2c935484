"""SimulatedNetwork through the Network contract: manifest, publish, idempotency, reply, delete, reactions."""

from __future__ import annotations

import pytest
from resonanz_sdk.errors import PermanentNetworkError, RateLimitedError
from resonanz_sdk.manifest import Feature, MediaKind, TextCounting
from resonanz_sdk.network import AccountRef, Media, OutgoingPost, SearchRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.content import Sentiment
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

BRAND = AccountRef(network="simulated", handle="resonanz_de")
OTHER = AccountRef(network="simulated", handle="klangwerk")


def _post(
    text: str = "Heute startet unsere neue Kollektion! #Resonanz", key: str = "key-1", **kw: object
) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key=key, **kw)  # type: ignore[arg-type]


def test_manifest_is_honest(network: SimulatedNetwork) -> None:
    m = network.manifest
    assert m.network == "simulated" == network.name
    for feature in (
        Feature.PUBLISH,
        Feature.REPLY,
        Feature.DELETE,
        Feature.SEARCH,
        Feature.STREAM,
        Feature.ENGAGEMENT,
        Feature.LOOKUP_PUBLISHED,
        Feature.IDEMPOTENT_PUBLISH,
    ):
        assert m.supports(feature)
    assert not m.supports(Feature.ASSISTED_PUBLISH)
    assert m.text.max_length == 500
    assert m.text.counting is TextCounting.CODE_POINTS
    assert m.media.max_items == 4
    assert m.media.allowed == frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
    assert m.rate_limit("publish")
    assert m.rate_limit("search")


async def test_publish_is_idempotent(
    network: SimulatedNetwork, world: SimulatedWorld, clock: ManualClock
) -> None:
    assert await network.find_published(BRAND, "key-1") is None
    published_at = clock.now()
    first = await network.publish(BRAND, _post())
    clock.advance(30)
    again = await network.publish(BRAND, _post())
    assert again == first
    assert await network.find_published(BRAND, "key-1") == first
    # Another key is another post; the same key on another account is another post too.
    other = await network.publish(BRAND, _post(key="key-2"))
    assert other.external_id != first.external_id
    elsewhere = await network.publish(OTHER, _post())
    assert elsewhere.external_id not in (first.external_id, other.external_id)
    own = [p for p in world.posts() if p.author.handle == "resonanz_de"]
    assert sorted(p.external_id for p in own) == sorted([first.external_id, other.external_id])
    assert first.url.endswith(f"/@resonanz_de/{first.external_id}")
    assert first.published_at == published_at


async def test_text_over_the_limit_is_refused_and_changes_nothing(
    network: SimulatedNetwork, world: SimulatedWorld
) -> None:
    ok = "ä" * 499 + "🎵"  # 500 code points, 501 UTF-16 units
    await network.publish(BRAND, _post(ok, key="fits"))
    with pytest.raises(PermanentNetworkError, match="500"):
        await network.publish(BRAND, _post("x" * 501, key="too-long"))
    assert await network.find_published(BRAND, "too-long") is None
    with pytest.raises(PermanentNetworkError):
        await network.publish(BRAND, _post("   ", key="empty"))
    assert [p.text for p in world.posts() if p.author.handle == "resonanz_de"] == [ok]


@pytest.mark.parametrize(
    ("kinds", "accepted"),
    [
        ((MediaKind.IMAGE,) * 4, True),
        ((MediaKind.VIDEO,), True),
        ((MediaKind.IMAGE,) * 5, False),
        ((MediaKind.VIDEO,) * 2, False),
        ((MediaKind.IMAGE, MediaKind.VIDEO), False),
        ((MediaKind.GIF,), False),
    ],
)
async def test_media_rules(network: SimulatedNetwork, kinds: tuple[MediaKind, ...], accepted: bool) -> None:
    media = tuple(Media(kind=k, uri=f"https://cdn.example/{i}") for i, k in enumerate(kinds))
    post = _post(key="media", media=media)
    if accepted:
        published = await network.publish(BRAND, post)
        stored = network.world.get(published.external_id)
        assert stored is not None
        assert stored.media == media
    else:
        with pytest.raises(PermanentNetworkError):
            await network.publish(BRAND, post)
        assert await network.find_published(BRAND, "media") is None


async def test_the_world_answers_a_brand_post_addressing_the_brand(
    network: SimulatedNetwork, world: SimulatedWorld, clock: ManualClock
) -> None:
    clock.advance(60)
    published = await network.publish(BRAND, _post())
    clock.advance(15 * 60)
    page = await network.search(SearchRequest(terms=("@resonanz_de",), limit=500))
    replies = [m for m in page.mentions if m.in_reply_to == published.external_id]
    assert len(replies) >= 4
    assert all("@resonanz_de" in r.text for r in replies)
    assert all("resonanz_de" in r.mentions for r in replies)
    assert all(r.published_at > published.published_at for r in replies)
    truth = [world.get(r.external_id) for r in replies]
    sentiments = {p.sentiment for p in truth if p is not None}
    assert Sentiment.POSITIVE in sentiments
    counts = (await network.engagement([published.external_id]))[published.external_id]
    assert counts.replies == len(replies)
    assert counts.likes > 0
    assert counts.views >= counts.likes


async def test_replies_to_brand_posts_come_in_both_languages(
    network: SimulatedNetwork, world: SimulatedWorld, clock: ManualClock
) -> None:
    ids = []
    for i in range(6):
        ids.append((await network.publish(BRAND, _post(f"Neuigkeit Nummer {i}", key=f"k{i}"))).external_id)
        clock.advance(60)
    clock.advance(30 * 60)
    world.advance()
    replies = [p for p in world.posts() if p.in_reply_to in ids]
    languages = {p.language for p in replies}
    assert languages == {"de", "en"}
    sentiments = {p.sentiment for p in replies}
    assert {Sentiment.POSITIVE, Sentiment.NEGATIVE} <= sentiments


async def test_reply_and_delete(network: SimulatedNetwork, world: SimulatedWorld, clock: ManualClock) -> None:
    clock.advance(600)
    world.advance()
    someone = next(p for p in world.posts() if "Resonanz" in p.text)
    reply = await network.reply(
        BRAND, _post("@x Danke für das Feedback!", key="r1", in_reply_to=someone.external_id)
    )
    stored = world.get(reply.external_id)
    assert stored is not None
    assert stored.in_reply_to == someone.external_id
    assert world.get(someone.external_id).replies >= 1  # type: ignore[union-attr]
    # publish() with in_reply_to is a reply too.
    via_publish = await network.publish(BRAND, _post("Gern!", key="r2", in_reply_to=someone.external_id))
    assert world.get(via_publish.external_id).in_reply_to == someone.external_id  # type: ignore[union-attr]
    with pytest.raises(PermanentNetworkError):
        await network.reply(BRAND, _post("hallo", key="r3", in_reply_to="999"))
    with pytest.raises(PermanentNetworkError):
        await network.reply(BRAND, _post("hallo", key="r4"))

    own = await network.publish(BRAND, _post("Resonanz sagt Hallo", key="p1"))
    found = await network.search(SearchRequest(terms=("Resonanz sagt Hallo",)))
    assert [m.external_id for m in found.mentions] == [own.external_id]
    with pytest.raises(PermanentNetworkError, match="another account"):
        await network.delete(BRAND, someone.external_id)
    await network.delete(BRAND, own.external_id)
    await network.delete(BRAND, own.external_id)  # deleting twice is fine
    gone = await network.search(SearchRequest(terms=("Resonanz sagt Hallo",)))
    assert gone.mentions == ()
    assert own.external_id not in await network.engagement([own.external_id])
    with pytest.raises(PermanentNetworkError):
        await network.delete(BRAND, "12345")
    with pytest.raises(PermanentNetworkError):
        await network.reply(BRAND, _post("zu spät", key="r5", in_reply_to=own.external_id))


async def test_engagement_leaves_out_unknown_ids(network: SimulatedNetwork, clock: ManualClock) -> None:
    clock.advance(600)
    page = await network.search(SearchRequest(terms=("resonanz",), limit=3))
    ids = [m.external_id for m in page.mentions]
    result = await network.engagement([*ids, "nope"])
    assert set(result) == set(ids)


async def test_publish_rate_limit_is_enforced_in_simulated_time(
    world: SimulatedWorld, clock: ManualClock
) -> None:
    network = SimulatedNetwork(world, settings=Settings(simulated_faults=""))
    (limit,) = network.manifest.rate_limit("publish")
    for i in range(limit.requests):
        await network.publish(BRAND, _post(f"Post {i}", key=f"rl{i}"))
    with pytest.raises(RateLimitedError) as caught:
        await network.publish(BRAND, _post("one too many", key="rl-over"))
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= limit.per_seconds
    assert await network.find_published(BRAND, "rl-over") is None
    # Other accounts have their own budget; time heals.
    await network.publish(OTHER, _post("anderes Konto", key="rl-other"))
    clock.advance(limit.per_seconds + 1)
    await network.publish(BRAND, _post("one too many", key="rl-over"))


def test_networks_of_one_seed_share_one_world_in_a_process() -> None:
    settings = Settings(simulated_seed=90_210, simulated_faults="")
    a, b = SimulatedNetwork(settings=settings), SimulatedNetwork(settings=settings)
    assert a.world is b.world
    other = SimulatedNetwork(settings=Settings(simulated_seed=90_211, simulated_faults=""))
    assert other.world is not a.world


async def test_shared_world_sees_what_another_instance_published() -> None:
    settings = Settings(simulated_seed=90_212, simulated_faults="", simulated_speed=100.0)
    publisher, listener = SimulatedNetwork(settings=settings), SimulatedNetwork(settings=settings)
    published = await publisher.publish(BRAND, _post("Geteilte Welt #Resonanz", key="shared"))
    assert await listener.find_published(BRAND, "shared") == published
    page = await listener.search(SearchRequest(terms=("Geteilte Welt",)))
    assert [m.external_id for m in page.mentions] == [published.external_id]
