"""Tables the scoring app materialises from its faust tables, so that any API replica can answer.

All are ORM classes on :class:`resonanz_scoring.models.Base` (same metadata, same ``create_all`` and
migrations as the scored-mention tables); every primary key starts with ``tenant``. Queries use the
Core ``__table__`` of each class.

* :class:`CascadeRow` (``scoring_cascades``): one reshare/reply/quote cascade per root post, as the
  cascades agent last saw it (docs/scoring/aggregates.md). ``labels`` is a JSON list of strings.
* :class:`CascadeMemberRow` (``scoring_cascade_members``): every post of a cascade of two or more
  posts (the root included) -> its root. A post that is alone is not listed.
* :class:`CascadeLabelRow` (``scoring_cascade_labels``): (label, cascade) pairs with the cascade's
  last activity, so ``ListCascades(label, window)`` reads one index.
* :class:`AlertRow` (``scoring_alerts``): every crisis alert raised, with the serialised
  ``events.v1.Alert`` exactly as it went to Kafka.
* :class:`OwnPostRow` (``scoring_own_posts``): the brand's posts published through the publishing
  service (one row per post and target), with their latest engagement.
* :class:`CampaignTermRow` (``scoring_campaign_terms``): the hashtags and normalised links of a
  campaign's posts, that mentions are attributed to the campaign by.
* :class:`CampaignMentionRow` (``scoring_campaign_mentions``): scored mentions attributed to a
  campaign, once each, with how they were attributed (``relation``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from resonanz_scoring.models import ID_LEN, LABEL_LEN, LINK_LEN, TENANT_LEN, Base

__all__ = [
    "ALERTS",
    "CAMPAIGN_MENTIONS",
    "CAMPAIGN_TERMS",
    "CASCADES",
    "CASCADE_LABELS",
    "CASCADE_MEMBERS",
    "OWN_POSTS",
    "RELATIONS",
    "AlertRow",
    "CampaignMentionRow",
    "CampaignTermRow",
    "CascadeLabelRow",
    "CascadeMemberRow",
    "CascadeRow",
    "OwnPostRow",
    "upsert",
]

#: Root texts are cut to this many characters.
ROOT_TEXT_LEN = 1000
#: ``CampaignMentionRow.relation`` values, strongest first: a mention matched in several ways keeps
#: the strongest (a reply beats a reshare beats a quote beats a hashtag beats a link).
RELATIONS = ("reply", "reshare", "quote", "hashtag", "link")


class CascadeRow(Base):
    __tablename__ = "scoring_cascades"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    root_mention_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    network: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    depth: Mapped[int] = mapped_column(Integer)
    structural_virality: Mapped[float] = mapped_column(Float)
    growth_rate_per_hour: Mapped[float] = mapped_column(Float)
    estimated_reach: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Whether the root post itself has been seen (False while its posts wait for it: orphans).
    root_seen: Mapped[bool] = mapped_column(Boolean)
    root_author_handle: Mapped[str] = mapped_column(String(300))
    root_text: Mapped[str] = mapped_column(String(ROOT_TEXT_LEN))
    labels: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_scoring_cascades_tenant_activity", "tenant", "last_activity_at"),)


class CascadeMemberRow(Base):
    __tablename__ = "scoring_cascade_members"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    mention_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    root_mention_id: Mapped[str] = mapped_column(String(ID_LEN))

    __table_args__ = (Index("ix_scoring_cascade_members_root", "tenant", "root_mention_id"),)


class CascadeLabelRow(Base):
    __tablename__ = "scoring_cascade_labels"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_LEN), primary_key=True)
    root_mention_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_scoring_cascade_labels_window", "tenant", "label", "last_activity_at"),)


class AlertRow(Base):
    __tablename__ = "scoring_alerts"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_LEN))
    #: ``events.v1.AlertKind`` and ``AlertSeverity`` numbers.
    kind: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    observed: Mapped[float] = mapped_column(Float)
    baseline: Mapped[float] = mapped_column(Float)
    z_score: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(1000))
    sample_mention_ids: Mapped[list[str]] = mapped_column(JSON)
    #: The serialised ``events.v1.Alert``, byte for byte what went to Kafka.
    alert: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_scoring_alerts_tenant_raised", "tenant", "raised_at", "id"),
        Index("ix_scoring_alerts_tenant_label_raised", "tenant", "label", "raised_at", "id"),
    )


class OwnPostRow(Base):
    __tablename__ = "scoring_own_posts"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    post_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    network: Mapped[str] = mapped_column(String(100), primary_key=True)
    account: Mapped[str] = mapped_column(String(300), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(ID_LEN))
    #: ``<network>:<external_id>``: the id the post has as a mention.
    mention_id: Mapped[str] = mapped_column(String(ID_LEN))
    campaign_id: Mapped[str] = mapped_column(String(ID_LEN))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    replies: Mapped[int] = mapped_column(BigInteger, default=0)
    quotes: Mapped[int] = mapped_column(BigInteger, default=0)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    #: By the default definition (likes + shares + replies + quotes), from the latest counts.
    engagement: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The post's estimated reach when listening collected it as a mention, else 0.
    estimated_reach: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The network's view count when it reports one, else the scored mention's estimate, else 0.
    estimated_impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the latest engagement counts were measured (None before the first update).
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_scoring_own_posts_mention", "tenant", "mention_id"),
        Index("ix_scoring_own_posts_campaign", "tenant", "campaign_id", "published_at"),
        Index("ix_scoring_own_posts_account", "tenant", "network", "account", "published_at"),
    )


class CampaignTermRow(Base):
    __tablename__ = "scoring_campaign_terms"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    #: ``hashtag`` (lower case, no "#") or ``link`` (normalised: see campaigns.normalise_link).
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    term: Mapped[str] = mapped_column(String(LINK_LEN), primary_key=True)
    #: The first time a request of the campaign carried the term; mentions earlier than this are not
    #: attributed through it.
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_scoring_campaign_terms_term", "tenant", "kind", "term"),)


class CampaignMentionRow(Base):
    __tablename__ = "scoring_campaign_mentions"

    tenant: Mapped[str] = mapped_column(String(TENANT_LEN), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    mention_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    #: One of :data:`RELATIONS`.
    relation: Mapped[str] = mapped_column(String(16))
    network: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_scoring_campaign_mentions_time", "tenant", "campaign_id", "occurred_at"),)


#: The Core tables of the classes above (typed as ``Table`` for queries).
CASCADES = cast("Table", CascadeRow.__table__)
CASCADE_MEMBERS = cast("Table", CascadeMemberRow.__table__)
CASCADE_LABELS = cast("Table", CascadeLabelRow.__table__)
ALERTS = cast("Table", AlertRow.__table__)
OWN_POSTS = cast("Table", OwnPostRow.__table__)
CAMPAIGN_TERMS = cast("Table", CampaignTermRow.__table__)
CAMPAIGN_MENTIONS = cast("Table", CampaignMentionRow.__table__)


def upsert(
    engine: AsyncEngine, table: Table, keys: Sequence[str], update: Iterable[str]
) -> Insert | SqliteInsert:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET col = excluded.col`` for the columns in
    ``update`` (DO NOTHING when there are none besides the keys), on PostgreSQL and SQLite."""
    statement = pg_insert(table) if engine.dialect.name == "postgresql" else sqlite_insert(table)
    columns = [name for name in update if name not in keys]
    if not columns:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in columns}
    )
