"""The listening service's tables (all prefixed ``listening_``), SQLAlchemy 2 declarative.

* ``listening_queries``: listening queries per tenant.
* ``listening_cursors``: the durable search cursor per (query, network).
* ``listening_mentions``: collected mentions, unique per (tenant, mention id); ``seq`` is the
  collection order that stream cursors point into; ``payload`` is the serialized ``Mention``.
* ``listening_mention_labels``: the labels of each mention, for label filters in SQL.
* ``listening_outbox``: ``mentions.raw`` events stored with their mention, sent after commit.
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
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    mention_id: Mapped[str] = mapped_column(String(300), nullable=False)
    network: Mapped[str] = mapped_column(String(63), nullable=False)
    #: The text, case-folded, for case-insensitive "contains" search.
    search_text: Mapped[str] = mapped_column(Text, nullable=False)
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class MentionLabelRow(Base):
    __tablename__ = "listening_mention_labels"
    __table_args__ = (Index("ix_listening_mention_labels_tenant_label", "tenant", "label", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigId, ForeignKey("listening_mentions.seq", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)


class OutboxRow(Base):
    __tablename__ = "listening_outbox"
    __table_args__ = (Index("ix_listening_outbox_unsent", "sent", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    topic: Mapped[str] = mapped_column(String(200), nullable=False)
    key: Mapped[str] = mapped_column(String(300), nullable=False)
    envelope: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


metadata: Any = Base.metadata
