"""The listening service's tables (all prefixed ``listening_``), SQLAlchemy 2 declarative.

* ``listening_queries``: listening queries per tenant.
* ``listening_cursors``: the durable search cursor per (query, network).
* ``listening_mentions``: collected mentions, unique per (tenant, mention id); ``seq`` is the
  collection order that stream cursors point into; ``payload`` is the serialized ``Mention``.
* ``listening_mention_labels``: the labels of each mention, for label filters in SQL.
* ``listening_mention_queries``: the query ids of each mention, for ``query_ids`` filters in SQL.
* ``listening_outbox``: ``mentions.raw`` and ``engagement.updates`` events, sent after commit.
* ``listening_tracked_items``: posts whose engagement is refreshed on a decaying schedule (the
  brand's own published posts and collected mentions), see :mod:`resonanz_listening.engagement`.

Full-text search objects that SQLAlchemy cannot describe portably (PostgreSQL's generated
``search_vector`` column and its GIN index, SQLite's FTS5 table and triggers) are created by
:mod:`resonanz_listening.search` (DDL events on ``listening_mentions``) and by migration 0001.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from resonanz_listening.search import register_ddl

#: BIGINT on PostgreSQL, but INTEGER on SQLite so that it is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class QueryRow(Base):
    __tablename__ = "listening_queries"
    __table_args__ = (Index("ix_listening_queries_tenant_created", "tenant", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    expression: Mapped[str] = mapped_column(Text, nullable=False)
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    networks: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CursorRow(Base):
    __tablename__ = "listening_cursors"

    query_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("listening_queries.id", ondelete="CASCADE"), primary_key=True
    )
    network: Mapped[str] = mapped_column(String(63), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MentionRow(Base):
    __tablename__ = "listening_mentions"
    __table_args__ = (
        UniqueConstraint("tenant", "mention_id", name="uq_listening_mentions_tenant_mention"),
        Index("ix_listening_mentions_tenant_seq", "tenant", "seq"),
        Index("ix_listening_mentions_tenant_published", "tenant", "published_at", "seq"),
        Index("ix_listening_mentions_published", "published_at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    mention_id: Mapped[str] = mapped_column(String(300), nullable=False)
    network: Mapped[str] = mapped_column(String(63), nullable=False)
    #: The text, case-folded, for case-insensitive "contains" search.
    search_text: Mapped[str] = mapped_column(Text, nullable=False)
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: When the network says the post was published: search order, since/until and retention.
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: The normalised language hint ("de", "en", ...; "" unknown): picks the text-search config.
    language: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


register_ddl(MentionRow.__table__)


class MentionLabelRow(Base):
    __tablename__ = "listening_mention_labels"
    __table_args__ = (Index("ix_listening_mention_labels_tenant_label", "tenant", "label", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigId, ForeignKey("listening_mentions.seq", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)


class MentionQueryRow(Base):
    __tablename__ = "listening_mention_queries"
    __table_args__ = (Index("ix_listening_mention_queries_tenant_query", "tenant", "query_id", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigId, ForeignKey("listening_mentions.seq", ondelete="CASCADE"), primary_key=True
    )
    query_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)


class TrackedItemRow(Base):
    """A post whose engagement is refreshed: ``next_refresh_at`` NULL means the schedule is over."""

    __tablename__ = "listening_tracked_items"
    __table_args__ = (
        UniqueConstraint("tenant", "network", "external_id", name="uq_listening_tracked_items_post"),
        Index("ix_listening_tracked_items_due", "next_refresh_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    network: Mapped[str] = mapped_column(String(63), nullable=False)
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    #: ``resonanz.events.v1.EngagementSubject`` (1 own post, 2 mention).
    subject: Mapped[int] = mapped_column(Integer, nullable=False)
    post_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    campaign_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    account: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    tracked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    next_refresh_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    refreshes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: A replica's claim: it measures the item until then; an expired claim is free again.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: The last known counts (NULL: never measured); an update is emitted only when they change.
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shares: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    replies: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quotes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OutboxRow(Base):
    """One stored event. ``claimed_by``/``claimed_until``: the relay that is sending it and until when
    its claim holds (both NULL when unclaimed), see :mod:`resonanz_listening.outbox`."""

    __tablename__ = "listening_outbox"
    __table_args__ = (
        Index("ix_listening_outbox_unsent", "sent", "id"),
        Index("ix_listening_outbox_key", "topic", "key", "sent"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    topic: Mapped[str] = mapped_column(String(200), nullable=False)
    key: Mapped[str] = mapped_column(String(300), nullable=False)
    envelope: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


metadata: Any = Base.metadata
