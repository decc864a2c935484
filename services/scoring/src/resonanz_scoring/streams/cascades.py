"""Reshare cascades: which posts belong together, their shape (size, depth, structural virality) and
growth, kept in faust tables and materialised to the database so that any replica answers.

Data path
    The :class:`CascadeObserver` turns each scored batch into one compact ``CascadePosts`` event per
    (tenant, network) on the internal topic ``<prefix>scoring.cascade-posts``, keyed
    ``"<tenant>\\x00<network>"``: a cascade never leaves its network, so one partition owner sees every
    post of every cascade it holds, in order, and can re-root without talking to another owner.
    The agent applies the posts to two tables (changelogged, recovered at start):

    * ``scoring-cascades``: ``"<tenant>\\x00<root id>"`` -> the cascade's state (its
      :class:`~resonanz_scoring.analytics.cascade.CascadeTree` state, root details, labels);
    * ``scoring-cascade-index``: ``"<tenant>\\x00<mention id>"`` -> root id, for every post of a
      cascade and for every awaited root.

    and then writes each changed cascade to ``scoring_cascades`` / ``scoring_cascade_members`` /
    ``scoring_cascade_labels`` in one transaction.

Root resolution
    A post's parent is what it reshares, else what it quotes, else what it replies to. A post joins
    the cascade of its parent's root, so a reshare of a reshare belongs to the first post's cascade.
    A post without a parent is a root; it costs no state until a first child arrives (the child's
    parent is then looked up in the scored mentions). A post whose parent is unknown (not scored yet)
    starts a cascade keyed by the awaited parent id (``root_seen`` False), the post waiting there as
    an orphan of the tree. When the awaited parent arrives, the cascade gets its root; when the
    parent itself turns out to have a parent, the whole cascade is re-rooted: its posts move into the
    parent's cascade (the old row is deleted, the members point at the new root).

Idempotence
    The same post twice is counted once (the tree and the index de-duplicate on the mention id), so
    redelivered events and re-observed batches change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
from google.protobuf.message import DecodeError
from resonanz.common.v1 import mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk.eventbus import new_envelope
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import (
    CASCADE_LABELS,
    CASCADE_MEMBERS,
    CASCADES,
    ROOT_TEXT_LEN,
    upsert,
)
from resonanz_scoring.analytics.cascade import CascadeTree
from resonanz_scoring.convert import utc
from resonanz_scoring.models import LABEL_LEN, mentions
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.observers import ScoredItem

__all__ = [
    "CascadeObserver",
    "CascadeProcessor",
    "CascadeStore",
    "PostInfo",
    "cascade_posts_events",
    "parent_of",
    "register",
]

log = logging.getLogger(__name__)

TOPIC = "cascade-posts"
#: Labels kept per cascade (the first seen win).
MAX_LABELS = 50
#: Posts kept per cascade; later posts of a cascade this large are not counted (docs).
MAX_POSTS = 100_000
#: Posts per CascadePosts event: a batch of long root texts stays far below Kafka's 1 MB record limit
#: (the chunks of one batch keep their order: same key, same partition).
MAX_POSTS_PER_EVENT = 250
#: How far up a chain of not-yet-indexed parents the database is followed per event.
MAX_LOOKUP_ROUNDS = 8


def parent_of(mention: mention_pb2.Mention) -> str:
    """The mention id of the post ``mention`` reshares, else quotes, else replies to; "" for none."""
    external = mention.reshare_of_id or mention.quote_of_id or mention.in_reply_to_id
    if not external:
        return ""
    parent = f"{mention.network}:{external}"
    return "" if parent == mention.id else parent


def _key(tenant: str, rest: str) -> str:
    return f"{tenant}\x00{rest}"


def cascade_posts_events(items: Sequence[ScoredItem]) -> list[tuple[bytes, events_pb2.EventEnvelope]]:
    """``CascadePosts`` envelopes per (tenant, network) of a scored batch (chunks of at most
    :data:`MAX_POSTS_PER_EVENT` posts), posts in batch order."""
    groups: dict[tuple[str, str], dict[str, events_pb2.CascadePost]] = {}
    for item in items:
        mention = item.mention
        posts = groups.setdefault((item.tenant, mention.network), {})
        if mention.id in posts:
            continue
        parent = parent_of(mention)
        occurred = (
            mention.published_at
            if mention.HasField("published_at")
            else mention.collected_at
            if mention.HasField("collected_at")
            else item.score.scored_at
        )
        posts[mention.id] = events_pb2.CascadePost(
            mention_id=mention.id,
            parent_id=parent,
            occurred_at=occurred,
            author_followers=max(0, mention.author.followers),
            labels=sorted({label.strip()[:LABEL_LEN] for label in mention.labels if label.strip()}),
            author_handle=mention.author.handle or mention.author.id,
            text="" if parent else mention.text[:ROOT_TEXT_LEN],
        )
    events = []
    for (tenant, network), posts in groups.items():
        ordered = list(posts.values())
        for start in range(0, len(ordered), MAX_POSTS_PER_EVENT):
            chunk = ordered[start : start + MAX_POSTS_PER_EVENT]
            envelope = new_envelope(tenant, events_pb2.CascadePosts(network=network, posts=chunk))
            events.append((_key(tenant, network).encode(), envelope))
    return events


class CascadeObserver:
    """Forwards every scored batch to the cascades agent (one event per tenant and network)."""

    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def observe(self, items: Sequence[ScoredItem]) -> None:
        pending = [
            await self.topic.send(key=key, value=envelope.SerializeToString())
            for key, envelope in cascade_posts_events(items)
        ]
        for future in pending:
            await future  # acknowledged by the broker before the scored batch is


@dataclass(slots=True)
class PostInfo:
    """What the cascades agent knows of one post."""

    mention_id: str
    parent_id: str
    occurred_at: datetime
    followers: int
    labels: list[str] = field(default_factory=list)
    author_handle: str = ""
    text: str = ""

    @classmethod
    def from_event(cls, post: events_pb2.CascadePost) -> PostInfo:
        return cls(
            mention_id=post.mention_id,
            parent_id=post.parent_id,
            occurred_at=post.occurred_at.ToDatetime(tzinfo=UTC),
            followers=post.author_followers,
            labels=list(post.labels),
            author_handle=post.author_handle,
            text=post.text,
        )


@dataclass(slots=True)
class Cascade:
    """One cascade's state as the table holds it (JSON-safe through :meth:`to_state`).

    ``posts`` maps each post to ``(parent id or None, epoch seconds, author followers)`` in arrival
    order; the :class:`CascadeTree` that measures it is built from them when metrics are needed. An
    awaited root is a placeholder post (no parent, no followers, the time of its earliest child)
    until it arrives, so the cascade always has its root.
    """

    root: str
    network: str
    posts: dict[str, tuple[str | None, float, int]] = field(default_factory=dict)
    root_seen: bool = False
    root_author_handle: str = ""
    root_text: str = ""
    labels: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "network": self.network,
            "posts": [[post, parent, at, followers] for post, (parent, at, followers) in self.posts.items()],
            "root_seen": self.root_seen,
            "root_author_handle": self.root_author_handle,
            "root_text": self.root_text,
            "labels": self.labels,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cascade:
        return cls(
            root=state["root"],
            network=state["network"],
            posts={
                post: (parent, float(at), int(followers)) for post, parent, at, followers in state["posts"]
            },
            root_seen=bool(state["root_seen"]),
            root_author_handle=state.get("root_author_handle", ""),
            root_text=state.get("root_text", ""),
            labels=list(state.get("labels", [])),
        )

    def add(self, post_id: str, parent_id: str | None, at: datetime, followers: int) -> bool:
        """Add a post once; False when it is known already or the cascade is full."""
        if post_id in self.posts or len(self.posts) >= MAX_POSTS:
            return False
        self.posts[post_id] = (parent_id, at.timestamp(), max(0, followers))
        return True

    def await_root(self, at: datetime) -> None:
        """Hold the root's place until it arrives (earliest time of its known children)."""
        known = self.posts.get(self.root)
        if known is None:
            self.posts = {self.root: (None, at.timestamp(), 0), **self.posts}
        elif not self.root_seen and at.timestamp() < known[1]:
            self.posts[self.root] = (None, at.timestamp(), 0)

    def add_labels(self, labels: Iterable[str]) -> None:
        for label in labels:
            if label not in self.labels and len(self.labels) < MAX_LABELS:
                self.labels.append(label)

    def tree(self) -> CascadeTree:
        tree = CascadeTree()
        for post, (parent, at, followers) in self.posts.items():
            tree.add(post, parent, datetime.fromtimestamp(at, UTC), followers)
        return tree


@dataclass(slots=True)
class Changes:
    """What one event changed: cascades to write, cascades merged away, members to (re-)point."""

    cascades: dict[str, Cascade] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    members: dict[str, str] = field(default_factory=dict)
    #: Awaited roots being re-rooted (their index entry is about to change).
    detached: set[str] = field(default_factory=set)
    #: Cascades that changed (loaded ones may be unchanged: a post seen before).
    dirty: set[str] = field(default_factory=set)


class CascadeProcessor:
    """Applies posts to the cascade tables of one partition owner (see the module docstring).

    ``cascades`` and ``index`` are the faust tables (any MutableMapping works, e.g. in unit tests);
    ``lookup`` reads posts the agent has not seen from the scored mentions (roots and late parents).
    """

    def __init__(
        self,
        cascades: MutableMapping[str, Any],
        index: MutableMapping[str, Any],
        store: CascadeStore,
    ) -> None:
        self.cascades = cascades
        self.index = index
        self.store = store

    async def process(self, tenant: str, network: str, posts: Sequence[PostInfo]) -> Changes:
        """Apply ``posts`` (in order), write what changed to the database, return the changes."""
        known = {post.mention_id: post for post in posts}
        await self._prefetch(tenant, posts, known)
        changes = Changes()
        for post in posts:
            self._apply(tenant, network, post, known, changes)
        # The database first: when it fails, the tables are unchanged and the redelivered event is
        # applied again in full (the other way round, the posts would be "known" and never written).
        await self.store.write(tenant, changes)
        for root in changes.dirty - changes.removed:
            self.cascades[_key(tenant, root)] = changes.cascades[root].to_state()
        for root in changes.removed:
            self.cascades.pop(_key(tenant, root), None)
        for member, root in changes.members.items():
            self.index[_key(tenant, member)] = root
        return changes

    async def _prefetch(self, tenant: str, posts: Sequence[PostInfo], known: dict[str, PostInfo]) -> None:
        """Read the parents the index does not hold from the scored mentions, up the chain."""
        wanted = {post.parent_id for post in posts if post.parent_id}
        for _ in range(MAX_LOOKUP_ROUNDS):
            wanted = {
                mention_id
                for mention_id in wanted
                if mention_id not in known and _key(tenant, mention_id) not in self.index
            }
            if not wanted:
                return
            found = await self.store.lookup(tenant, wanted)
            known.update(found)
            wanted = {info.parent_id for info in found.values() if info.parent_id}

    def _load(self, tenant: str, root: str, changes: Changes) -> Cascade | None:
        if root in changes.cascades:
            return changes.cascades[root]
        state = self.cascades.get(_key(tenant, root))
        if state is None:
            return None
        cascade = Cascade.from_state(state)
        changes.cascades[root] = cascade
        return cascade

    def _root_of(self, tenant: str, mention_id: str, changes: Changes) -> str | None:
        if mention_id in changes.members:
            return changes.members[mention_id]
        if mention_id in changes.detached:
            return None
        root = self.index.get(_key(tenant, mention_id))
        return None if root is None else str(root)

    def _apply(
        self,
        tenant: str,
        network: str,
        post: PostInfo,
        known: Mapping[str, PostInfo],
        changes: Changes,
    ) -> None:
        root = self._root_of(tenant, post.mention_id, changes)
        if root is not None:
            cascade = self._load(tenant, root, changes)
            if cascade is not None and root == post.mention_id and not cascade.root_seen:
                self._arrive_awaited_root(tenant, network, cascade, post, known=known, changes=changes)
            return  # otherwise known already: counted once
        if not post.parent_id:
            return  # a lone root costs nothing until its first child arrives
        parent_root = self._resolve(tenant, network, post.parent_id, known=known, changes=changes, depth=0)
        cascade = self._load(tenant, parent_root, changes)
        assert cascade is not None
        self._add(cascade, post, changes)

    def _add(self, cascade: Cascade, post: PostInfo, changes: Changes) -> None:
        if not cascade.root_seen:
            cascade.await_root(post.occurred_at)
        if cascade.add(post.mention_id, post.parent_id or None, post.occurred_at, post.followers):
            cascade.add_labels(post.labels)
            changes.members[post.mention_id] = cascade.root
            changes.dirty.add(cascade.root)

    def _resolve(
        self,
        tenant: str,
        network: str,
        mention_id: str,
        *,
        known: Mapping[str, PostInfo],
        changes: Changes,
        depth: int,
    ) -> str:
        """The root id of the cascade ``mention_id`` belongs to, creating it when needed."""
        root = self._root_of(tenant, mention_id, changes)
        if root is not None:
            return root
        info = known.get(mention_id)
        if info is not None and info.parent_id and depth < MAX_LOOKUP_ROUNDS:
            parent_root = self._resolve(
                tenant, network, info.parent_id, known=known, changes=changes, depth=depth + 1
            )
            cascade = self._load(tenant, parent_root, changes)
            assert cascade is not None
            self._add(cascade, info, changes)
            return parent_root
        cascade = Cascade(root=mention_id, network=network)
        changes.cascades[mention_id] = cascade
        changes.removed.discard(mention_id)
        changes.members[mention_id] = mention_id
        changes.dirty.add(mention_id)
        if info is not None:
            self._seat_root(cascade, info)
        return mention_id

    def _seat_root(self, cascade: Cascade, info: PostInfo) -> None:
        seat = (None, info.occurred_at.timestamp(), max(0, info.followers))
        if info.mention_id in cascade.posts:
            cascade.posts[info.mention_id] = seat  # replaces the placeholder, keeps its place
        else:
            cascade.posts = {info.mention_id: seat, **cascade.posts}
        cascade.root_seen = True
        cascade.root_author_handle = info.author_handle
        cascade.root_text = info.text
        cascade.add_labels(info.labels)

    def _arrive_awaited_root(
        self,
        tenant: str,
        network: str,
        cascade: Cascade,
        post: PostInfo,
        *,
        known: Mapping[str, PostInfo],
        changes: Changes,
    ) -> None:
        """The post a cascade waited for arrived: seat it, or re-root the cascade under its parent."""
        changes.dirty.add(cascade.root)
        if not post.parent_id or self._root_of(tenant, post.parent_id, changes) == cascade.root:
            self._seat_root(cascade, post)  # a cycle in the data (A replies to B replies to A) ends here
            return
        changes.members.pop(post.mention_id, None)
        changes.detached.add(post.mention_id)
        changes.cascades.pop(cascade.root, None)
        changes.removed.add(cascade.root)
        parent_root = self._resolve(tenant, network, post.parent_id, known=known, changes=changes, depth=0)
        target = self._load(tenant, parent_root, changes)
        assert target is not None
        self._add(target, post, changes)
        for mention_id, (parent_id, at, followers) in cascade.posts.items():
            if mention_id != cascade.root and target.add(
                mention_id, parent_id, datetime.fromtimestamp(at, UTC), followers
            ):
                changes.members[mention_id] = target.root
        target.add_labels(cascade.labels)
        changes.removed.discard(target.root)
        changes.dirty.add(target.root)


class CascadeStore:
    """The database side of the cascades agent: reads unseen posts, writes changed cascades."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def lookup(self, tenant: str, mention_ids: Iterable[str]) -> dict[str, PostInfo]:
        """The scored mentions among ``mention_ids`` (of ``tenant``) as posts."""
        wanted = sorted(set(mention_ids))
        if not wanted:
            return {}
        query = select(
            mentions.c.mention_id,
            mentions.c.occurred_at,
            mentions.c.author_followers,
            mentions.c.author,
            mentions.c.mention,
        ).where(mentions.c.tenant == tenant, mentions.c.mention_id.in_(wanted))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, PostInfo] = {}
        for mention_id, occurred_at, followers, author, blob in rows:
            mention = mention_pb2.Mention.FromString(blob)
            parent = parent_of(mention)
            found[mention_id] = PostInfo(
                mention_id=mention_id,
                parent_id=parent,
                occurred_at=utc(occurred_at),
                followers=int(followers),
                labels=sorted({label.strip()[:LABEL_LEN] for label in mention.labels if label.strip()}),
                author_handle=author,
                text="" if parent else mention.text[:ROOT_TEXT_LEN],
            )
        return found

    async def write(self, tenant: str, changes: Changes) -> None:
        """Upsert the changed cascades (two posts or more), their members and labels; delete the
        cascades merged into others. One transaction."""
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        label_rows: list[dict[str, Any]] = []
        for root, cascade in changes.cascades.items():
            if root in changes.removed or len(cascade.posts) < 2:
                continue
            metrics = cascade.tree().metrics()
            rows.append(
                {
                    "tenant": tenant,
                    "root_mention_id": root,
                    "network": cascade.network,
                    "size": len(cascade.posts),
                    "depth": metrics.depth,
                    "structural_virality": metrics.structural_virality,
                    "growth_rate_per_hour": metrics.growth_rate_per_hour,
                    "estimated_reach": metrics.estimated_reach,
                    "started_at": metrics.started_at,
                    "last_activity_at": metrics.last_activity_at,
                    "root_seen": cascade.root_seen,
                    "root_author_handle": cascade.root_author_handle[:300],
                    "root_text": cascade.root_text[:ROOT_TEXT_LEN],
                    "labels": sorted(cascade.labels),
                    "updated_at": now,
                }
            )
            label_rows += [
                {
                    "tenant": tenant,
                    "label": label,
                    "root_mention_id": root,
                    "last_activity_at": metrics.last_activity_at,
                }
                for label in cascade.labels
            ]
        member_rows = [
            {"tenant": tenant, "mention_id": member, "root_mention_id": root}
            for member, root in changes.members.items()
            if root not in changes.removed
        ]
        cascade_table, label_table, member_table = CASCADES, CASCADE_LABELS, CASCADE_MEMBERS
        async with self.engine.begin() as conn:
            if changes.removed:
                gone = sorted(changes.removed)
                for table in (cascade_table, label_table):
                    await conn.execute(
                        delete(table).where(table.c.tenant == tenant, table.c.root_mention_id.in_(gone))
                    )
            if rows:
                await conn.execute(
                    upsert(self.engine, cascade_table, ("tenant", "root_mention_id"), rows[0].keys()),
                    rows,
                )
            if label_rows:
                await conn.execute(
                    upsert(
                        self.engine,
                        label_table,
                        ("tenant", "label", "root_mention_id"),
                        ("last_activity_at",),
                    ),
                    label_rows,
                )
            if member_rows:
                await conn.execute(
                    upsert(self.engine, member_table, ("tenant", "mention_id"), ("root_mention_id",)),
                    member_rows,
                )


async def read_cascade_members(
    engine: AsyncEngine, tenant: str, mention_ids: Iterable[str]
) -> dict[str, str]:
    """mention id -> root id for the given mentions that are in a cascade (tests, tools)."""
    wanted = sorted(set(mention_ids))
    table = CASCADE_MEMBERS
    query = select(table.c.mention_id, table.c.root_mention_id).where(
        table.c.tenant == tenant, table.c.mention_id.in_(wanted)
    )
    async with engine.connect() as conn:
        return {str(mention_id): str(root) for mention_id, root in (await conn.execute(query)).all()}


def register(app: faust.App, ctx: StreamContext) -> None:
    """The cascades agent, its two tables and the observer that feeds it."""
    topic = ctx.internal_topic(TOPIC)
    prefix = ctx.settings.topic_prefix
    cascades = app.Table(f"{prefix}scoring-cascades", default=None)
    index = app.Table(f"{prefix}scoring-cascade-index", default=None)
    processor = CascadeProcessor(cascades, index, CascadeStore(ctx.engine))

    async def cascade_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                envelope = events_pb2.EventEnvelope.FromString(event.value)
            except DecodeError:
                envelope = events_pb2.EventEnvelope()
            payload = envelope.cascade_posts
            if not envelope.tenant or envelope.WhichOneof("payload") != "cascade_posts":
                log.warning("cascades: ignoring a record that is not CascadePosts")  # only we write here
                continue
            posts = [PostInfo.from_event(p) for p in payload.posts]
            # A failure (the database is gone) turns health NOT_SERVING and stops the agent.
            await ctx.guard(processor.process(envelope.tenant, payload.network, posts))

    app.agent(topic, name=f"{prefix}scoring-cascades-agent")(cascade_agent)
    ctx.add_observer(CascadeObserver(topic))
