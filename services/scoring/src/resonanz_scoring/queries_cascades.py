"""Read side of GetCascade and ListCascades: the cascades the cascades agent materialises.

Only cascades of two or more posts have rows (``scoring_cascades``, ``scoring_cascade_members``); a
scored mention that nobody reshared, replied to or quoted is a cascade of one, answered from
``scoring_mentions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from resonanz.common.v1 import mention_pb2
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import CascadeLabelRow, CascadeMemberRow, CascadeRow
from resonanz_scoring.convert import utc
from resonanz_scoring.models import mention_labels, mentions

cascades = CascadeRow.__table__
members = CascadeMemberRow.__table__
cascade_labels = CascadeLabelRow.__table__

#: Root texts in answers are cut to this many characters (as the cascades table stores them).
ROOT_TEXT_LEN = 1000


class CascadeOrder(Enum):
    SIZE = "size"
    STRUCTURAL_VIRALITY = "structural_virality"
    GROWTH_RATE = "growth_rate_per_hour"


async def cascade_of(engine: AsyncEngine, tenant: str, mention_id: str) -> dict[str, Any] | None:
    """The cascade ``mention_id`` belongs to, as a ``scoring_cascades``-shaped dict; a lone scored
    mention is a cascade of one; ``None`` when the tenant has no such mention."""
    c, m = cascades.c, members.c
    query = (
        select(cascades)
        .join(members, and_(m.tenant == c.tenant, m.root_mention_id == c.root_mention_id))
        .where(m.tenant == tenant, m.mention_id == mention_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
        if row is not None:
            return dict(row)
        lone = (
            await conn.execute(
                select(
                    mentions.c.mention_id,
                    mentions.c.network,
                    mentions.c.occurred_at,
                    mentions.c.estimated_reach,
                    mentions.c.author,
                    mentions.c.mention,
                ).where(mentions.c.tenant == tenant, mentions.c.mention_id == mention_id)
            )
        ).first()
        if lone is None:
            return None
        labels = (
            await conn.execute(
                select(mention_labels.c.label)
                .where(mention_labels.c.tenant == tenant, mention_labels.c.mention_id == mention_id)
                .order_by(mention_labels.c.label)
            )
        ).scalars()
        label_list = [str(label) for label in labels]
    return lone_cascade(dict(lone._mapping), label_list)


def lone_cascade(row: Mapping[str, Any], labels: list[str]) -> dict[str, Any]:
    """A scored mention without reshares, replies or quotes as a cascade of one."""
    mention = mention_pb2.Mention.FromString(row["mention"])
    return {
        "root_mention_id": row["mention_id"],
        "network": row["network"],
        "size": 1,
        "depth": 0,
        "structural_virality": 0.0,
        "growth_rate_per_hour": 0.0,
        "estimated_reach": row["estimated_reach"],
        "started_at": utc(row["occurred_at"]),
        "last_activity_at": utc(row["occurred_at"]),
        "labels": labels,
        "root_author_handle": mention.author.handle or row["author"],
        "root_text": mention.text[:ROOT_TEXT_LEN],
    }


async def top_cascades(
    engine: AsyncEngine,
    tenant: str,
    *,
    label: str,
    active_after: datetime,
    order: CascadeOrder,
    limit: int,
) -> list[dict[str, Any]]:
    """The ``limit`` cascades of ``label`` active after ``active_after`` (last activity), largest by
    ``order`` first, ties by size then root id. Cascades whose root post has not been collected
    (replies to a post nobody listened to) are included, with an empty root text."""
    c, cl = cascades.c, cascade_labels.c
    key = getattr(c, order.value)
    query = (
        select(cascades)
        .join(cascade_labels, and_(cl.tenant == c.tenant, cl.root_mention_id == c.root_mention_id))
        .where(
            cl.tenant == tenant,
            cl.label == label,
            cl.last_activity_at > active_after,
        )
        .order_by(key.desc(), c.size.desc(), c.root_mention_id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]
