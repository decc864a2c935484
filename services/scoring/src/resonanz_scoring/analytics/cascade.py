"""Reshare cascades: a tree of posts (the original and its reshares/quotes), and its metrics.

* **size**: posts in the cascade, the root included.
* **depth**: longest path from the root, in edges (0 for a lone post).
* **structural virality** (Goel, Anderson, Hofman, Watts 2016, "The Structural Virality of Online
  Diffusion", Management Science 62(1)): the mean shortest-path distance over all pairs of posts,
  ``nu(T) = W(T) / (n (n - 1) / 2)`` where ``W`` is the Wiener index (sum of all pairwise distances).
  In a tree every edge separates ``s`` nodes (its lower subtree) from ``n - s``, and lies on exactly
  ``s (n - s)`` of the paths, so ``W = sum over edges of s (n - s)``: O(n) from subtree sizes. A star
  of n posts (one broadcast) gives ``2 (n - 1) / n`` (< 2), a chain of n posts ``(n + 1) / 3``; 0 for
  fewer than two posts.
* **growth rate per hour**: posts published in the hour up to the cascade's last activity
  (``last_activity - 1 h < t <= last_activity``), per hour.
* **estimated reach**: the root author's followers plus every reshare's followers discounted by its
  hop, as :func:`resonanz_scoring.analytics.reach.estimate_reach` (``decay**hop x (1 - overlap)``).

:class:`CascadeTree` is built one post at a time, in any order: the same post added twice counts once
(a redelivered or re-collected reshare), and a post whose parent has not arrived yet waits as
*pending* and joins the tree when its parent arrives. While the root is missing, the metrics are
those of the largest group of waiting posts, measured from its earliest head (``root_id``), and
``pending`` counts the rest. A group kept elsewhere (keyed by the parent it waits for) joins with
:meth:`CascadeTree.merge`. Its state is JSON-safe (``to_state`` / ``from_state``) so it can live in a
faust table and a database row.

Bounded: at most ``max_nodes`` (default :data:`MAX_NODES` = 100,000) posts are kept. Beyond that, new
posts are ignored except that ``last_activity_at`` still advances, and the metrics say
``truncated=True``: size, depth, virality and reach are then those of the first 100,000 posts to
arrive. Such cascades are very rare (Goel et al. found the vast majority of Twitter cascades to be
tiny). Without the ids of ignored posts a redelivery could not be told from a new post, so they are
not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resonanz_scoring.analytics.errors import InvalidInputError, InvalidStateError
from resonanz_scoring.analytics.reach import AUDIENCE_OVERLAP, RESHARE_DECAY
from resonanz_scoring.analytics.windows import EPOCH, as_utc

MAX_NODES = 100_000
GROWTH_WINDOW = timedelta(hours=1)
STATE_VERSION = 1

_US = timedelta(microseconds=1)


def _to_us(t: datetime) -> int:
    return (as_utc(t) - EPOCH) // _US


def _from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class CascadeMetrics:
    size: int
    depth: int
    structural_virality: float
    growth_rate_per_hour: float
    started_at: datetime | None
    last_activity_at: datetime | None
    estimated_reach: int
    #: The post the metrics are measured from: the root, or while it is missing, the earliest head
    #: of the largest group of posts waiting for it.
    root_id: str | None = None
    #: Posts that are not (yet) connected to ``root_id``: their parent has not arrived.
    pending: int = 0
    #: The tree reached ``max_nodes`` and later posts were not kept.
    truncated: bool = False


EMPTY_METRICS = CascadeMetrics(0, 0, 0.0, 0.0, None, None, 0)


def _wiener_index(order: list[str], parent: Mapping[str, str | None]) -> int:
    """Sum of ``s (n - s)`` over the edges of a tree given in BFS order (parents before children)."""
    n = len(order)
    size = dict.fromkeys(order, 1)
    total = 0
    for node in reversed(order[1:]):
        s = size[node]
        total += s * (n - s)
        up = parent[node]
        assert up is not None
        size[up] += s
    return total


def _virality(n: int, wiener: int) -> float:
    return 2.0 * wiener / (n * (n - 1)) if n >= 2 else 0.0


def _bfs(head: str, children: Mapping[str, list[str]]) -> tuple[list[str], dict[str, int]]:
    order = [head]
    depth = {head: 0}
    i = 0
    while i < len(order):
        node = order[i]
        i += 1
        for child in children.get(node, ()):
            if child not in depth:
                depth[child] = depth[node] + 1
                order.append(child)
    return order, depth


def _children_of(parent: Mapping[str, str | None]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for node, up in parent.items():
        if up is not None:
            children.setdefault(up, []).append(node)
    return children


def structural_virality(parents: Mapping[str, str | None]) -> float:
    """Mean shortest-path distance over all pairs of nodes of the tree ``{node: parent}`` (one root,
    whose parent is None); 0 for fewer than two nodes. O(n).

    Raises :class:`InvalidInputError` when the mapping is not a single tree.
    """
    if len(parents) < 2:
        if any(p is not None for p in parents.values()):
            raise InvalidInputError("a lone node must be the root (parent None)")
        return 0.0
    roots = [node for node, up in parents.items() if up is None]
    if len(roots) != 1:
        raise InvalidInputError(f"a tree has exactly one root (parent None), found {len(roots)}")
    missing = sorted({up for up in parents.values() if up is not None and up not in parents})
    if missing:
        raise InvalidInputError(f"parents not in the tree: {missing[:5]}")
    order, _ = _bfs(roots[0], _children_of(parents))
    if len(order) != len(parents):
        raise InvalidInputError("the mapping has a cycle: not every node is reachable from the root")
    return _virality(len(order), _wiener_index(order, parents))


class CascadeTree:
    """One reshare cascade, built incrementally (see the module docstring for the metrics)."""

    __slots__ = (
        "_at",
        "_cache",
        "_decay",
        "_followers",
        "_last_activity",
        "_max_nodes",
        "_overlap",
        "_parent",
        "_root",
        "_truncated",
    )

    def __init__(
        self,
        max_nodes: int = MAX_NODES,
        *,
        decay: float = RESHARE_DECAY,
        overlap: float = AUDIENCE_OVERLAP,
    ) -> None:
        if max_nodes < 1:
            raise InvalidInputError(f"max_nodes must be >= 1, got {max_nodes}")
        if not (0.0 <= decay <= 1.0 and 0.0 <= overlap <= 1.0):
            raise InvalidInputError(f"decay and overlap must be in [0, 1], got {decay!r}, {overlap!r}")
        self._max_nodes = max_nodes
        self._decay = decay
        self._overlap = overlap
        self._parent: dict[str, str | None] = {}
        self._at: dict[str, int] = {}
        self._followers: dict[str, int] = {}
        self._root: str | None = None
        self._truncated = False
        self._last_activity: int | None = None
        self._cache: CascadeMetrics | None = None

    def __len__(self) -> int:
        return len(self._parent)

    def __contains__(self, post_id: object) -> bool:
        return post_id in self._parent

    @property
    def root_id(self) -> str | None:
        """The post added without a parent, if it has arrived."""
        return self._root

    @property
    def max_nodes(self) -> int:
        return self._max_nodes

    def parent_of(self, post_id: str) -> str | None:
        return self._parent[post_id]

    def posts(self) -> Iterator[tuple[str, str | None, datetime, int]]:
        """Every stored post as ``(post_id, parent_id, at, followers)``, parents before their children:
        breadth first from the root (or, while it is missing, from each post whose parent is missing,
        in the order they were added), then any post in a cycle (bad data) in the order added."""
        children = _children_of(self._parent)
        heads = [self._root] if self._root is not None else []
        heads += [
            node
            for node, up in self._parent.items()
            if node != self._root and (up is None or up not in self._parent)
        ]
        seen: set[str] = set()
        for head in heads:
            for node in _bfs(head, children)[0]:
                if node not in seen:
                    seen.add(node)
                    yield node, self._parent[node], _from_us(self._at[node]), self._followers[node]
        for node, up in self._parent.items():
            if node not in seen:
                yield node, up, _from_us(self._at[node]), self._followers[node]

    def merge(self, other: CascadeTree) -> int:
        """Adds every post of ``other`` (parents first); returns how many were new here. For joining a
        group of posts that waited for a missing parent into the cascade the parent belongs to."""
        added = 0
        for post_id, parent_id, at, followers in other.posts():
            added += self.add(post_id, parent_id, at, followers)
        if other._truncated:
            # Posts ``other`` could not keep are lost here too; its last activity still counts.
            self._truncated = True
            last = other._last_activity
            if last is not None and (self._last_activity is None or last > self._last_activity):
                self._last_activity = last
            self._cache = None
        return added

    def add(self, post_id: str, parent_id: str | None, at: datetime, followers: int) -> bool:
        """Adds a post; False when it was there already (nothing changes) or the tree is full.

        ``parent_id`` None marks the cascade's root; only the first such post is the root, a later
        one waits as pending. A naive ``at`` is UTC; negative ``followers`` count as 0.
        """
        if not post_id:
            raise InvalidInputError("post_id must not be empty")
        if parent_id == post_id:
            raise InvalidInputError(f"post {post_id!r} cannot be its own parent")
        if post_id in self._parent:
            return False
        at_us = _to_us(at)
        if self._last_activity is None or at_us > self._last_activity:
            self._last_activity = at_us
            self._cache = None
        if len(self._parent) >= self._max_nodes:
            self._truncated = True
            self._cache = None
            return False
        self._parent[post_id] = parent_id
        self._at[post_id] = at_us
        self._followers[post_id] = max(int(followers), 0)
        if parent_id is None and self._root is None:
            self._root = post_id
        self._cache = None
        return True

    def _head(self, children: Mapping[str, list[str]]) -> str | None:
        if self._root is not None:
            return self._root
        best: tuple[int, int, str] | None = None
        for node, up in self._parent.items():
            if up is None or up not in self._parent:
                size = len(_bfs(node, children)[0])
                key = (-size, self._at[node], node)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]

    def metrics(self) -> CascadeMetrics:
        """The cascade's metrics; O(n), cached until the next change."""
        if self._cache is not None:
            return self._cache
        children = _children_of(self._parent)
        head = self._head(children)
        if head is None:
            return EMPTY_METRICS
        order, depth = _bfs(head, children)
        n = len(order)
        times = [self._at[node] for node in order]
        last = max(times)
        if self._last_activity is not None and self._truncated:
            last = max(last, self._last_activity)
        window_start = last - GROWTH_WINDOW // _US
        recent = sum(1 for t in times if t > window_start)
        reach = float(self._followers[head])
        for node in order[1:]:
            reach += self._followers[node] * self._decay ** depth[node] * (1.0 - self._overlap)
        self._cache = CascadeMetrics(
            size=n,
            depth=max(depth.values()),
            structural_virality=_virality(n, _wiener_index(order, self._parent)),
            growth_rate_per_hour=recent / (GROWTH_WINDOW / timedelta(hours=1)),
            started_at=_from_us(min(times)),
            last_activity_at=_from_us(last),
            estimated_reach=math.floor(reach + 1e-9),
            root_id=head,
            pending=len(self._parent) - n,
            truncated=self._truncated,
        )
        return self._cache

    def to_state(self) -> dict[str, Any]:
        """A JSON-safe snapshot, columnar (one list per field, posts in the order they were added,
        times in epoch microseconds): compact, and fast to encode."""
        return {
            "version": STATE_VERSION,
            "max_nodes": self._max_nodes,
            "decay": self._decay,
            "overlap": self._overlap,
            "truncated": self._truncated,
            "last_activity_us": self._last_activity,
            "ids": list(self._parent),
            "parents": list(self._parent.values()),
            "at_us": list(self._at.values()),
            "followers": list(self._followers.values()),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CascadeTree:
        """The tree :meth:`to_state` saved; :class:`InvalidStateError` when ``state`` is not one."""
        try:
            if state["version"] != STATE_VERSION:
                raise InvalidStateError(f"cascade state version {state['version']!r} is not {STATE_VERSION}")
            tree = cls(int(state["max_nodes"]), decay=float(state["decay"]), overlap=float(state["overlap"]))
            ids, parents = list(state["ids"]), list(state["parents"])
            at_us, followers = [int(t) for t in state["at_us"]], [int(f) for f in state["followers"]]
            if not len(ids) == len(parents) == len(at_us) == len(followers):
                raise InvalidStateError("cascade state columns differ in length")
            if not all(isinstance(node, str) and node for node in ids) or not all(
                parent is None or isinstance(parent, str) for parent in parents
            ):
                raise InvalidStateError("cascade state has a post id that is not a non-empty string")
            if len(set(ids)) != len(ids) or len(ids) > tree._max_nodes:
                raise InvalidStateError("cascade state has duplicate posts or more than max_nodes")
            tree._parent = dict(zip(ids, parents, strict=True))
            tree._at = dict(zip(ids, at_us, strict=True))
            tree._followers = {node: max(f, 0) for node, f in zip(ids, followers, strict=True)}
            tree._root = next((node for node, parent in tree._parent.items() if parent is None), None)
            tree._truncated = bool(state["truncated"])
            last = state["last_activity_us"]
            tree._last_activity = None if last is None else int(last)
        except InvalidStateError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"not a cascade state: {exc!r}") from exc
        return tree
