"""Reshare cascades: known structural virality, idempotent and order-independent building, state."""

from __future__ import annotations

import itertools
import json
import random
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resonanz_scoring.analytics.cascade import CascadeTree, structural_virality
from resonanz_scoring.analytics.errors import InvalidInputError, InvalidStateError

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def brute_force_virality(parents: dict[str, str | None]) -> float:
    """Mean distance over all pairs by BFS from every node: the definition, O(n^2)."""
    neighbours: dict[str, list[str]] = {node: [] for node in parents}
    for node, up in parents.items():
        if up is not None:
            neighbours[node].append(up)
            neighbours[up].append(node)
    total = 0
    for source in parents:
        dist = {source: 0}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for other in neighbours[node]:
                if other not in dist:
                    dist[other] = dist[node] + 1
                    queue.append(other)
        total += sum(dist.values())
    n = len(parents)
    return total / (n * (n - 1)) if n > 1 else 0.0


def star(n: int) -> dict[str, str | None]:
    return {"root": None} | {f"leaf{i}": "root" for i in range(n - 1)}


def path(n: int) -> dict[str, str | None]:
    return {"p0": None} | {f"p{i}": f"p{i - 1}" for i in range(1, n)}


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_a_star_of_n_posts_has_virality_2_n_minus_1_over_n(n: int) -> None:
    assert structural_virality(star(n)) == pytest.approx(2 * (n - 1) / n)


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_a_chain_of_n_posts_has_virality_n_plus_1_over_3(n: int) -> None:
    assert structural_virality(path(n)) == pytest.approx((n + 1) / 3)


def test_known_small_trees() -> None:
    assert structural_virality({}) == 0.0
    assert structural_virality({"a": None}) == 0.0
    # r -> a, b; a -> c. Distances: ra 1, rb 1, rc 2, ab 2, ac 1, bc 3 = 10 over 6 pairs.
    assert structural_virality({"r": None, "a": "r", "b": "r", "c": "a"}) == pytest.approx(10 / 6)
    # The contrast of Goel et al.'s Figure 1, with our numbers: 100 posts as one broadcast vs two
    # generations (root -> 9 -> 10 each); the second spreads person to person and is more viral.
    broadcast = star(100)
    generations: dict[str, str | None] = {"root": None}
    for i in range(9):
        generations[f"g{i}"] = "root"
        for j in range(10):
            generations[f"g{i}.{j}"] = f"g{i}"
    assert len(generations) == 100
    assert structural_virality(generations) > structural_virality(broadcast)
    assert structural_virality(generations) == pytest.approx(brute_force_virality(generations))


def test_what_is_not_a_tree_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        structural_virality({"a": None, "b": None})
    with pytest.raises(InvalidInputError):
        structural_virality({"a": None, "b": "missing"})
    with pytest.raises(InvalidInputError):
        structural_virality({"a": None, "b": "c", "c": "b"})
    with pytest.raises(InvalidInputError):
        structural_virality({"a": "b"})


@st.composite
def random_trees(draw: st.DrawFn) -> dict[str, str | None]:
    n = draw(st.integers(min_value=1, max_value=40))
    parents: dict[str, str | None] = {"n0": None}
    for i in range(1, n):
        parents[f"n{i}"] = f"n{draw(st.integers(min_value=0, max_value=i - 1))}"
    return parents


@given(random_trees())
def test_virality_of_random_trees_equals_brute_force_all_pairs_bfs(parents: dict[str, str | None]) -> None:
    assert structural_virality(parents) == pytest.approx(brute_force_virality(parents))


def build(parents: dict[str, str | None], order: list[str]) -> CascadeTree:
    tree = CascadeTree()
    index = {node: i for i, node in enumerate(parents)}
    for node in order:
        tree.add(node, parents[node], T0 + timedelta(minutes=index[node]), 100 + index[node])
    return tree


@settings(deadline=None)
@given(random_trees(), st.randoms(use_true_random=False))
def test_any_arrival_order_and_duplicates_give_the_same_cascade(
    parents: dict[str, str | None], rnd: random.Random
) -> None:
    in_order = build(parents, list(parents)).metrics()
    shuffled = list(parents) + rnd.sample(list(parents), k=len(parents) // 2)
    rnd.shuffle(shuffled)
    assert build(parents, shuffled).metrics() == in_order
    assert in_order.size == len(parents)
    assert in_order.pending == 0
    assert in_order.structural_virality == pytest.approx(brute_force_virality(parents))


def test_a_reshare_counted_twice_is_counted_once() -> None:
    tree = CascadeTree()
    assert tree.add("root", None, T0, 1000)
    assert tree.add("r1", "root", T0 + timedelta(minutes=1), 500)
    before = tree.metrics()
    assert not tree.add("r1", "root", T0 + timedelta(minutes=1), 500)
    assert not tree.add("r1", "root", T0 + timedelta(minutes=9), 99_999)
    assert tree.metrics() == before
    assert before.size == 2


def test_orphans_wait_for_their_parent_and_join_when_it_arrives() -> None:
    tree = CascadeTree()
    tree.add("root", None, T0, 1000)
    tree.add("c", "b", T0 + timedelta(minutes=3), 10)  # b has not arrived yet
    tree.add("d", "c", T0 + timedelta(minutes=4), 10)
    early = tree.metrics()
    assert (early.size, early.pending, early.root_id) == (1, 2, "root")
    tree.add("b", "root", T0 + timedelta(minutes=2), 10)
    late = tree.metrics()
    assert (late.size, late.pending, late.depth) == (4, 0, 3)
    assert late.structural_virality == pytest.approx((4 + 1) / 3)


def test_before_the_root_arrives_the_largest_waiting_group_is_measured() -> None:
    tree = CascadeTree()
    tree.add("a", "root", T0 + timedelta(minutes=1), 10)
    tree.add("a1", "a", T0 + timedelta(minutes=2), 10)
    tree.add("b", "root", T0 + timedelta(minutes=3), 10)
    m = tree.metrics()
    assert (m.root_id, m.size, m.pending) == ("a", 2, 1)
    tree.add("root", None, T0, 10)
    assert tree.metrics().size == 4
    assert tree.root_id == "root"


def test_depth_times_growth_and_reach() -> None:
    tree = CascadeTree()
    tree.add("root", None, T0, 1000)
    tree.add("a", "root", T0 + timedelta(minutes=10), 500)  # hop 1: 500 x 0.5 x 0.8 = 200
    tree.add("b", "a", T0 + timedelta(minutes=80), 1000)  # hop 2: 1000 x 0.25 x 0.8 = 200
    tree.add("c", "a", T0 + timedelta(minutes=100), 0)
    tree.add("d", "c", T0 + timedelta(minutes=130), 0)
    m = tree.metrics()
    assert m.size == 5
    assert m.depth == 3
    assert m.started_at == T0
    assert m.last_activity_at == T0 + timedelta(minutes=130)
    # Posts in (last - 1 h, last] = (70, 130] minutes: b at 80, c at 100, d at 130 -> 3 per hour.
    assert m.growth_rate_per_hour == 3.0
    assert m.estimated_reach == 1000 + 200 + 200


def test_naive_datetimes_are_utc() -> None:
    tree = CascadeTree()
    tree.add("root", None, datetime(2026, 5, 4, 12, 0), 1)
    assert tree.metrics().started_at == T0


def test_the_tree_is_bounded() -> None:
    tree = CascadeTree(max_nodes=3)
    for i in range(3):
        assert tree.add(f"p{i}", None if i == 0 else "p0", T0 + timedelta(minutes=i), 1)
    assert not tree.add("p3", "p0", T0 + timedelta(hours=5), 1)
    m = tree.metrics()
    assert (m.size, m.truncated) == (3, True)
    assert m.last_activity_at == T0 + timedelta(hours=5)
    assert len(tree) == 3


def test_state_round_trips_through_json_and_keeps_working() -> None:
    tree = CascadeTree()
    tree.add("root", None, T0, 1000)
    tree.add("b", "a", T0 + timedelta(minutes=2), 20)  # pending
    tree.add("a", "root", T0 + timedelta(seconds=61, microseconds=7), 30)
    state = json.loads(json.dumps(tree.to_state()))
    again = CascadeTree.from_state(state)
    assert again.metrics() == tree.metrics()
    assert not again.add("a", "root", T0, 1)
    again.add("c", "b", T0 + timedelta(minutes=3), 5)
    assert again.metrics().size == 4


GOOD_STATE: dict[str, object] = {
    "version": 1,
    "max_nodes": 10,
    "decay": 0.5,
    "overlap": 0.2,
    "truncated": False,
    "last_activity_us": None,
    "ids": ["a", "b"],
    "parents": [None, "a"],
    "at_us": [1, 2],
    "followers": [10, 20],
}


def test_the_good_state_of_the_broken_ones_below_is_readable() -> None:
    assert CascadeTree.from_state(GOOD_STATE).metrics().size == 2


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"version": 99},
        {k: v for k, v in GOOD_STATE.items() if k != "followers"},
        GOOD_STATE | {"at_us": [1, "soon"]},
        GOOD_STATE | {"ids": ["a", "a"]},
        GOOD_STATE | {"ids": ["a", 7]},
        GOOD_STATE | {"parents": [None]},
        GOOD_STATE | {"max_nodes": 1},
        GOOD_STATE | {"decay": 3.0},
    ],
)
def test_a_broken_state_is_refused(state: dict[str, object]) -> None:
    with pytest.raises(InvalidStateError):
        CascadeTree.from_state(state)


def test_bad_adds_are_refused() -> None:
    tree = CascadeTree()
    with pytest.raises(InvalidInputError):
        tree.add("a", "a", T0, 1)
    with pytest.raises(InvalidInputError):
        tree.add("", None, T0, 1)


def test_a_large_cascade_is_measured_exactly() -> None:
    n = 100_000
    tree = CascadeTree()
    for i in range(n):
        tree.add(f"p{i}", None if i == 0 else f"p{i - 1}", T0 + timedelta(seconds=i), 1)
    m = tree.metrics()
    assert (m.size, m.depth) == (n, n - 1)
    assert m.structural_virality == pytest.approx((n + 1) / 3)
    assert not tree.add(f"p{n}", f"p{n - 1}", T0, 1)  # full
    assert tree.metrics().truncated


def test_every_pair_of_a_small_tree_in_every_order() -> None:
    parents: dict[str, str | None] = {"r": None, "a": "r", "b": "a", "c": "r"}
    expected = build(parents, list(parents)).metrics()
    for order in itertools.permutations(parents):
        assert build(parents, list(order)).metrics() == expected


def test_posts_come_parents_first_and_merging_joins_a_waiting_group() -> None:
    main = CascadeTree()
    main.add("root", None, T0, 1000)
    main.add("a", "root", T0 + timedelta(minutes=1), 10)
    waiting = CascadeTree()  # posts that waited for "b", which belongs to main's cascade
    waiting.add("d", "c", T0 + timedelta(minutes=5), 3)
    waiting.add("c", "b", T0 + timedelta(minutes=4), 2)
    waiting.add("e", "c", T0 + timedelta(minutes=6), 4)
    assert [p[0] for p in waiting.posts()] == ["c", "d", "e"]
    assert next(iter(waiting.posts())) == ("c", "b", T0 + timedelta(minutes=4), 2)
    assert waiting.metrics().root_id == "c"
    main.add("b", "a", T0 + timedelta(minutes=3), 10)
    assert main.merge(waiting) == 3
    assert main.merge(waiting) == 0
    m = main.metrics()
    assert (m.size, m.depth, m.pending) == (6, 4, 0)
    order = [p[0] for p in main.posts()]
    assert order.index("b") < order.index("c") < order.index("d")
    assert set(order) == {"root", "a", "b", "c", "d", "e"}


def test_posts_in_a_cycle_are_still_listed() -> None:
    tree = CascadeTree()
    tree.add("x", "y", T0, 1)
    tree.add("y", "x", T0, 1)
    tree.add("root", None, T0, 1)
    assert [p[0] for p in tree.posts()] == ["root", "x", "y"]
    assert tree.metrics().pending == 2
