"""Read side of ListTopAuthors: the authors of a label's mentions in a window, and who reshared,
quoted, replied to or named (``@handle``) whom.

Authors are keyed ``"<network>:<author id>"`` (the handle when the network gave no id). Interactions
come from the stored thread and reshare links of the window's mentions (``reshare_of``, ``quote_of``,
``in_reply_to`` joined to the parent mention's author); an author replying to or resharing themself
is no interaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resonanz.common.v1 import mention_pb2
from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.models import mention_labels, mentions
from resonanz_scoring.queries_sql import sum_if
from resonanz_scoring.sentiment import Sentiment

#: The interaction kinds and their edge weight in the PageRank graph: passing a post on endorses its
#: author fully; a reply is attention, not necessarily endorsement, and counts half.
INTERACTION_WEIGHTS = {"reshare_of": 1.0, "quote_of": 1.0, "in_reply_to": 0.5}
#: Naming someone (``@handle``) in a post is attention, like a reply.
MENTION_WEIGHT = 0.5
#: Mentioned handles are read from the stored mentions of the window, newest first, up to this many
#: mentions (the handles are inside the serialised mention); older ones add no mention edges.
MAX_MENTION_SCAN = 20_000


@dataclass(frozen=True)
class AuthorStats:
    key: str
    network: str
    author_id: str
    handle: str
    followers: int
    verified: bool
    mentions: int
    engagement: int
    positive: int
    negative: int
    #: One of the author's mentions in the window (for the display name).
    sample_mention_id: str


@dataclass(frozen=True)
class AuthorEdge:
    source: str
    target: str
    weight: float


def _author_key(table: Any) -> Any:
    return func.coalesce(func.nullif(table.c.author_id, ""), table.c.author)


def _window(tenant: str, label: str, start: datetime, end: datetime) -> Any:
    ml = mention_labels
    return and_(ml.c.tenant == tenant, ml.c.label == label, ml.c.occurred_at > start, ml.c.occurred_at <= end)


def _joined() -> Any:
    ml, m = mention_labels, mentions
    return ml.join(m, and_(m.c.tenant == ml.c.tenant, m.c.mention_id == ml.c.mention_id))


async def window_authors(
    engine: AsyncEngine, tenant: str, label: str, start: datetime, end: datetime
) -> list[AuthorStats]:
    """Every author of the label's mentions in ``start < t <= end`` with their figures there
    (followers and verification: the largest seen in the window)."""
    m = mentions
    key = _author_key(m).label("key")
    query = (
        select(
            m.c.network,
            key,
            func.max(m.c.author_handle),
            func.max(m.c.author_followers),
            func.max(cast(case((m.c.author_verified, 1), else_=0), Integer)),
            func.count(),
            func.coalesce(func.sum(m.c.engagement), 0),
            sum_if(m.c.sentiment == int(Sentiment.POSITIVE)),
            sum_if(m.c.sentiment == int(Sentiment.NEGATIVE)),
            func.max(m.c.mention_id),
        )
        .select_from(_joined())
        .where(_window(tenant, label, start, end), key != "")
        .group_by(m.c.network, key)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        AuthorStats(
            key=f"{network}:{author}",
            network=str(network),
            author_id=str(author),
            handle=str(handle or ""),
            followers=int(followers or 0),
            verified=bool(verified),
            mentions=int(count),
            engagement=int(engagement),
            positive=int(positive),
            negative=int(negative),
            sample_mention_id=str(sample),
        )
        for (
            network,
            author,
            handle,
            followers,
            verified,
            count,
            engagement,
            positive,
            negative,
            sample,
        ) in rows
    ]


async def window_interactions(
    engine: AsyncEngine, tenant: str, label: str, start: datetime, end: datetime
) -> list[AuthorEdge]:
    """Weighted author -> author edges: each of the window's mentions that reshares, quotes or
    replies to a stored mention adds the kind's weight to (its author -> the parent's author)."""
    m = mentions
    parent = mentions.alias("parent")
    source = _author_key(m)
    target = _author_key(parent)
    edges: dict[tuple[str, str], float] = {}
    async with engine.connect() as conn:
        for column, weight in INTERACTION_WEIGHTS.items():
            link = getattr(m.c, column)
            query = (
                select(m.c.network, source, parent.c.network, target, func.count())
                .select_from(
                    _joined().join(parent, and_(parent.c.tenant == m.c.tenant, parent.c.mention_id == link))
                )
                .where(_window(tenant, label, start, end), link != "")
                .group_by(m.c.network, source, parent.c.network, target)
            )
            for s_net, s_id, t_net, t_id, count in (await conn.execute(query)).all():
                a, b = f"{s_net}:{s_id}", f"{t_net}:{t_id}"
                if a != b and s_id and t_id:
                    edges[(a, b)] = edges.get((a, b), 0.0) + weight * int(count)
    return [AuthorEdge(a, b, w) for (a, b), w in sorted(edges.items())]


async def window_mention_edges(
    engine: AsyncEngine,
    tenant: str,
    label: str,
    start: datetime,
    end: datetime,
    *,
    authors: list[AuthorStats],
) -> list[AuthorEdge]:
    """Weighted edges (author -> the author they named with ``@handle``) from the window's newest
    :data:`MAX_MENTION_SCAN` mentions. A handle is matched to a window author of the same network
    (case-insensitive); an unknown handle is its own node ``"<network>:@<handle>"`` (it takes part in
    PageRank but is not ranked). Naming oneself is no edge."""
    m, ml = mentions, mention_labels
    query = (
        select(m.c.network, _author_key(m), m.c.mention)
        .select_from(_joined())
        .where(_window(tenant, label, start, end))
        .order_by(ml.c.occurred_at.desc())
        .limit(MAX_MENTION_SCAN)
    )
    async with engine.connect() as conn:
        rows = [(str(n), str(a), bytes(b)) for n, a, b in (await conn.execute(query)).all()]
    by_handle = {(a.network, a.handle.lstrip("@").lower()): a.key for a in authors if a.handle}
    return await asyncio.to_thread(_mention_edges, rows, by_handle)


def _mention_edges(
    rows: list[tuple[str, str, bytes]], by_handle: dict[tuple[str, str], str]
) -> list[AuthorEdge]:
    edges: dict[tuple[str, str], float] = {}
    for network, author, blob in rows:
        source = f"{network}:{author}"
        for handle in set(mention_pb2.Mention.FromString(blob).mentioned_handles):
            name = handle.strip().lstrip("@").lower()
            if not name:
                continue
            target = by_handle.get((network, name), f"{network}:@{name}")
            if target != source:
                edges[(source, target)] = edges.get((source, target), 0.0) + MENTION_WEIGHT
    return [AuthorEdge(a, b, w) for (a, b), w in sorted(edges.items())]


async def display_names(engine: AsyncEngine, tenant: str, mention_ids: list[str]) -> dict[str, str]:
    """mention id -> its author's display name, read from the stored mentions."""
    if not mention_ids:
        return {}
    query = select(mentions.c.mention_id, mentions.c.mention).where(
        mentions.c.tenant == tenant, mentions.c.mention_id.in_(sorted(set(mention_ids)))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(i): mention_pb2.Mention.FromString(blob).author.display_name for i, blob in rows}
