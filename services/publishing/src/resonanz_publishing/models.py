"""The publishing service's tables (all prefixed ``publishing_``).

* ``publishing_posts``: one row per post, with its default text, media, variants and overall status.
* ``publishing_post_targets``: one row per (post, network, account) with how far publishing got there.
* ``publishing_outbox``: events written in the same transaction as the change they announce, sent to
  Kafka afterwards by the outbox relay (transactional outbox).
* ``publishing_processed_events``: event ids the publish worker has handled (consumer de-duplication).

Statuses are stored as the protobuf enum numbers of ``PostStatus`` / ``TargetStatus``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: BIGINT on PostgreSQL, INTEGER on SQLite (so that it is SQLite's auto-incrementing rowid).
_AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = metadata


class PostRow(Base):
    __tablename__ = "publishing_posts"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_publishing_posts_tenant_idempotency_key"),
        Index("ix_publishing_posts_tenant_created", "tenant", "created_at", "id"),
        Index("ix_publishing_posts_due", "status", "scheduled_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: ``MediaItem`` messages as JSON objects (protobuf JSON mapping).
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    #: ``NetworkVariant`` messages as JSON objects.
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    campaign_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    labels: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: NULL when the caller gave none (NULLs never collide in the unique constraint).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)

    targets: Mapped[list[TargetRow]] = relationship(
        back_populates="post", order_by="TargetRow.position", lazy="selectin", cascade="all, delete-orphan"
    )


class TargetRow(Base):
    __tablename__ = "publishing_post_targets"
    __table_args__ = (
        UniqueConstraint(
            "post_id", "network", "account", name="uq_publishing_post_targets_post_network_account"
        ),
        Index("ix_publishing_post_targets_status", "status"),
    )

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("publishing_posts.id", ondelete="CASCADE"), nullable=False
    )
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: Order of the target in the CreatePost request.
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    network: Mapped[str] = mapped_column(String(64), nullable=False)
    account: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    url: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    post: Mapped[PostRow] = relationship(back_populates="targets")


class OutboxRow(Base):
    __tablename__ = "publishing_outbox"
    __table_args__ = (Index("ix_publishing_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: Logical topic name (``Topic`` value); the producer applies the prefix.
    topic: Mapped[str] = mapped_column(String(200), nullable=False)
    key: Mapped[str] = mapped_column(String(400), nullable=False)
    #: The serialized ``EventEnvelope`` (its event id stays the same on every re-send).
    envelope: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessedEventRow(Base):
    __tablename__ = "publishing_processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
