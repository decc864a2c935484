"""The simulated world: deterministic, lively (cascades, opinion leaders, two languages, crises), bounded."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from resonanz_simulated.clock import ManualClock, ScaledClock
from resonanz_simulated.content import NEGATIVE_MARKERS, Sentiment
from resonanz_simulated.world import SimulatedWorld

START = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def _snapshot(world: SimulatedWorld) -> list[tuple[object, ...]]:
    return [
        (p.external_id, p.author.handle, p.text, p.created, p.reshare_of, p.in_reply_to, world.counts(p))
        for p in world.posts()
    ]


def _drive(world: SimulatedWorld, clock: ManualClock) -> list[tuple[object, ...]]:
    """A fixed sequence of clock steps and calls."""
    for _ in range(6):
        clock.advance(300)
        world.advance()
    world.remember_terms(["Wanderschuhe"])
    world.publish("resonanz", "Unsere neue Kollektion ist da!", idempotency_key="k1")
    clock.advance(1200)
    world.advance()
    return _snapshot(world)


def test_same_seed_and_calls_give_identical_worlds() -> None:
    a_clock, b_clock = ManualClock(START), ManualClock(START)
    a = _drive(SimulatedWorld(7, a_clock), a_clock)
    b = _drive(SimulatedWorld(7, b_clock), b_clock)
    assert len(a) > 500
    assert a == b


def test_different_seeds_give_different_worlds() -> None:
    a_clock, b_clock = ManualClock(START), ManualClock(START)
    a = _drive(SimulatedWorld(7, a_clock), a_clock)
    b = _drive(SimulatedWorld(8, b_clock), b_clock)
    assert [x[2] for x in a[:50]] != [x[2] for x in b[:50]]


_SCRIPT = """
import hashlib
from datetime import UTC, datetime
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.world import SimulatedWorld
clock = ManualClock(datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
world = SimulatedWorld(3, clock)
world.remember_terms(["Fahrrad", "#sommer"])
clock.advance(5400)
world.advance()
world.publish("klangwerk", "Hello world", idempotency_key="x")
clock.advance(600)
world.advance()
rows = [(p.external_id, p.author.handle, p.text, p.created, world.counts(p)) for p in world.posts()]
print(len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
"""


def test_determinism_holds_across_processes_and_hash_seeds() -> None:
    outputs = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=60
        )
        outputs.add(done.stdout.strip())
    assert len(outputs) == 1


def test_world_is_lazy_about_the_past_and_only_moves_forward(clock: ManualClock) -> None:
    world = SimulatedWorld(42, clock)
    assert world.posts() == []
    clock.advance(600)
    world.advance()
    count = len(world.posts())
    assert count > 0
    world.advance_to(START)  # the past changes nothing
    assert len(world.posts()) == count
    assert all(p.created >= START.timestamp() for p in world.posts())


def test_population_has_power_law_followers_opinion_leaders_and_both_languages(world: SimulatedWorld) -> None:
    followers = [a.followers for a in world.population]
    leaders = [a for a in world.population if a.opinion_leader]
    assert 10 <= len(leaders) <= 150
    assert all(50_000 <= a.followers <= 500_000 for a in leaders)
    assert sum(a.verified for a in leaders) > len(leaders) / 2
    assert statistics.median(followers) < 100
    assert min(followers) >= 10
    # Heavy tail: the top 1 % hold most of all followers.
    top = sorted(followers, reverse=True)[: len(followers) // 100]
    assert sum(top) > sum(followers) / 2
    assert any(a.verified and not a.opinion_leader for a in world.population)
    languages = Counter(a.language for a in world.population)
    assert languages["de"] > languages["en"] > len(world.population) // 4


def test_posts_come_in_german_and_english_with_hashtags_mentions_and_links(
    world: SimulatedWorld, clock: ManualClock
) -> None:
    clock.advance(3600)
    world.advance()
    posts = world.posts()
    languages = Counter(p.language for p in posts)
    assert languages["de"] > 100
    assert languages["en"] > 100
    assert any("Kundenservice" in p.text for p in posts if p.language == "de")
    assert any("customer service" in p.text for p in posts if p.language == "en")
    assert sum(1 for p in posts if p.hashtags) > 100
    assert sum(1 for p in posts if p.mentions) > 50
    assert sum(1 for p in posts if p.links) > 20
    assert all(f"#{tag}" in p.text for p in posts for tag in p.hashtags)


def test_default_brands_are_mentioned_within_minutes(world: SimulatedWorld, clock: ManualClock) -> None:
    clock.advance(300)
    world.advance()
    texts = [p.text.casefold() for p in world.posts()]
    assert any("resonanz" in t for t in texts)
    assert any("klangwerk" in t for t in texts)
    clock.advance(900)
    world.advance()
    assert any("@resonanz" in p.text for p in world.posts())
    assert any("Resonanz" in p.text and "@resonanz" not in p.text for p in world.posts())


def test_brands_are_configurable(clock: ManualClock) -> None:
    world = SimulatedWorld(42, clock, brands=("Zitronenfalter",))
    clock.advance(1800)
    world.advance()
    texts = " ".join(p.text for p in world.posts())
    assert "Zitronenfalter" in texts
    assert "Resonanz" not in texts
    assert "Klangwerk" not in texts


def test_searched_terms_are_remembered_and_talked_about(world: SimulatedWorld, clock: ManualClock) -> None:
    world.remember_terms(["Wanderschuhe", "#Sommerfest", "resonanz"])
    assert world.remembered_terms == ("Wanderschuhe", "#Sommerfest")  # brands are known already
    clock.advance(3600)
    world.advance()
    texts = [p.text for p in world.posts() if p.reshare_of is None]
    assert any("Wanderschuhe" in t for t in texts)
    assert any("#Sommerfest" in t for t in texts)


def test_shares_cascade_beyond_the_first_level(world: SimulatedWorld, clock: ManualClock) -> None:
    clock.advance(3 * 3600)
    world.advance()
    posts = {p.external_id: p for p in world.posts()}
    reshares = [p for p in posts.values() if p.reshare_of is not None]
    assert reshares
    depths = Counter(p.depth for p in reshares)
    assert depths[2] > 0
    assert max(depths) >= 3
    # Decay: every level is smaller than the one before.
    levels = [depths[d] for d in range(1, max(depths) + 1)]
    assert levels == sorted(levels, reverse=True)
    for child in reshares:
        parent = posts.get(child.reshare_of or "")
        if parent is None:
            continue
        assert child.depth == parent.depth + 1
        assert child.created >= parent.created
        assert child.text.startswith(f"RT @{parent.author.handle}: ")
    # Shares counted on the parent are the reshares that happened.
    counted = Counter(p.reshare_of for p in reshares)
    for parent_id, n in counted.items():
        if parent_id in posts:
            assert posts[parent_id].shares == n


def test_opinion_leaders_posts_cascade_more(world: SimulatedWorld, clock: ManualClock) -> None:
    clock.advance(12 * 3600)
    world.advance()
    originals = [p for p in world.posts() if p.reshare_of is None and p.in_reply_to is None]
    leaders = [p.shares for p in originals if p.author.opinion_leader]
    others = [p.shares for p in originals if p.author.followers < 1_000]
    assert leaders
    assert others
    assert statistics.mean(leaders) > 10 * statistics.mean(others)


def test_engagement_grows_over_time(world: SimulatedWorld, clock: ManualClock) -> None:
    clock.advance(600)
    world.advance()
    post = max(world.posts(), key=lambda p: p.author.followers)
    before = world.counts(post)
    clock.advance(3600)
    world.advance()
    after = world.counts(post)
    assert after.likes >= before.likes
    assert after.views > before.views
    assert after.likes > 0


def test_a_crisis_wave_happens_and_is_negative() -> None:
    clock = ManualClock(START)
    world = SimulatedWorld(42, clock)
    crises = world.crises_between(START, START + timedelta(days=1))
    assert crises, "seed 42 has crises within a day"
    crisis = crises[0]
    assert world.crisis_at(crisis.start + (crisis.end - crisis.start) / 2) == crisis
    clock.set(crisis.end + timedelta(minutes=5))
    world.advance()
    lo, hi = crisis.start.timestamp(), crisis.end.timestamp()
    # Only posts written about the brand (not reshares) during the wave.
    during = [
        p for p in world.posts() if lo <= p.created < hi and p.topic == crisis.brand and p.reshare_of is None
    ]
    assert len(during) > 50
    negative = [p for p in during if p.sentiment is Sentiment.NEGATIVE]
    assert len(negative) / len(during) > 0.7
    assert sum(1 for p in during if any(m in p.text.casefold() for m in NEGATIVE_MARKERS)) > len(during) / 2
    # A wave: far more posts about the brand per minute than outside of it.
    window_minutes = (hi - lo) / 60
    after_clock = ManualClock(crisis.end + timedelta(minutes=5))
    calm_world = SimulatedWorld(42, after_clock)
    after_clock.advance(window_minutes * 60)
    calm_world.advance()
    calm = [
        p
        for p in calm_world.posts()
        if p.topic == crisis.brand and p.reshare_of is None and calm_world.crisis_at(p.published_at) is None
    ]
    assert len(during) / window_minutes > 3 * (len(calm) + 1) / window_minutes


def test_memory_is_bounded_by_retention(clock: ManualClock) -> None:
    world = SimulatedWorld(42, clock, retention=500)
    clock.advance(1800)
    world.advance()
    first = world.posts()[0].external_id
    clock.advance(3 * 3600)
    world.advance()
    assert len(world.posts()) <= 550
    assert world.get(first) is None


def test_a_long_pause_is_not_replayed_in_full(clock: ManualClock) -> None:
    world = SimulatedWorld(42, clock)
    clock.advance(30 * 24 * 3600)
    world.advance()
    oldest = min(p.created for p in world.posts())
    assert clock.now().timestamp() - oldest <= 6 * 3600 + 60


def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(speed=10_000)
    first = clock.now()
    second = clock.now()
    while second == first:
        second = clock.now()
    assert second > first
    time.sleep(0.01)
    assert (clock.now() - first).total_seconds() >= 100


def test_many_remembered_terms_do_not_drown_the_brands(world: SimulatedWorld, clock: ManualClock) -> None:
    world.remember_terms(f"Begriff{i}" for i in range(500))
    assert len(world.remembered_terms) == 200  # bounded, the newest kept
    assert world.remembered_terms[-1] == "Begriff499"
    clock.advance(600)
    world.advance()
    texts = [p.text for p in world.posts() if p.reshare_of is None]
    assert sum("Resonanz" in t or "@resonanz" in t for t in texts) >= 5
    assert any("Begriff" in t for t in texts)
