"""The publishing service's tables (all prefixed ``publishing_``).

* ``publishing_posts``: one row per post, with its default text, media, variants and overall status.
* ``publishing_post_targets``: one row per (post, network, account) with how far publishing got there.
* ``publishing_outbox``: events written in the same transaction as the change they announce, sent to
  Kafka afterwards by the outbox relay (transactional outbox).
* ``publishing_processed_events``: event ids the publish worker has handled (consumer de-duplication).
* ``publishing_approvals``, ``publishing_comments``, ``publishing_audit_events``: the review of a post
  and who did what when.
* ``publishing_members``, ``publishing_approval_policies``, ``publishing_campaigns``: the workspace.
* ``publishing_accounts`` (credentials encrypted), ``publishing_posting_queues``: connected accounts.
* ``publishing_media``: what the media store holds.
* ``publishing_rate_windows``: requests per rate-limit window, shared by every worker replica.

Statuses are stored as the protobuf enum numbers of ``PostStatus`` / ``TargetStatus``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
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
    #: ``UtmParameters`` as a JSON object (empty: no UTM parameters of the post's own).
    utm: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: Approval steps the post needs, from the workspace policy when it was submitted.
    approval_steps: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: How the schedule was asked for: ``now``, ``at`` (a time) or ``queue`` (next free slots).
    schedule_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="now")
    #: The time zone of a ``local_time`` schedule (IANA name), for display; empty otherwise.
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    #: External id this post replies to; empty for ordinary posts.
    in_reply_to: Mapped[str] = mapped_column(String(200), nullable=False, default="")

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
        Index("ix_publishing_post_targets_due", "status", "due_at"),
        Index("ix_publishing_post_targets_account", "tenant", "network", "account", "scheduled_at"),
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
    #: When this target falls due (the post's time or the account's queue slot).
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When the dispatcher may (re-)send it: ``scheduled_at``, or the time of a deferred retry.
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Set while a deferred retry waits (backoff or Retry-After); NULL otherwise.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

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


class ApprovalRow(Base):
    """One approver's approval of one step of a post's current review round."""

    __tablename__ = "publishing_approvals"
    __table_args__ = (
        UniqueConstraint("post_id", "step", "approver", name="uq_publishing_approvals_post_step_approver"),
    )

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("publishing_posts.id", ondelete="CASCADE"), nullable=False
    )
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    approver: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CommentRow(Base):
    __tablename__ = "publishing_comments"
    __table_args__ = (Index("ix_publishing_comments_post", "post_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    post_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("publishing_posts.id", ondelete="CASCADE"), nullable=False
    )
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    author: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuditEventRow(Base):
    """Append-only: who did what to which post, when. Never holds a secret."""

    __tablename__ = "publishing_audit_events"
    __table_args__ = (
        Index("ix_publishing_audit_events_tenant", "tenant", "id"),
        Index("ix_publishing_audit_events_post", "post_id", "id"),
    )

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: Empty for workspace-level events (policy, members, accounts).
    post_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    from_status: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    to_status: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MemberRow(Base):
    __tablename__ = "publishing_members"

    tenant: Mapped[str] = mapped_column(String(63), primary_key=True)
    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: ``Role`` enum number (EDITOR, APPROVER, ADMIN).
    role: Mapped[int] = mapped_column(Integer, nullable=False)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApprovalPolicyRow(Base):
    __tablename__ = "publishing_approval_policies"

    tenant: Mapped[str] = mapped_column(String(63), primary_key=True)
    #: ``ApprovalStep`` messages as JSON objects, in order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    allow_self_approval: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    review_replies: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CampaignRow(Base):
    __tablename__ = "publishing_campaigns"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_publishing_campaigns_tenant_idempotency_key"),
        Index("ix_publishing_campaigns_tenant_created", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hashtags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    links: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    utm: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AccountRow(Base):
    """A connected account. ``credentials`` is a Fernet token of the JSON secrets, never plaintext."""

    __tablename__ = "publishing_accounts"
    __table_args__ = (
        UniqueConstraint("tenant", "network", "handle", name="uq_publishing_accounts_tenant_network_handle"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    network: Mapped[str] = mapped_column(String(64), nullable=False)
    handle: Mapped[str] = mapped_column(String(200), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: Encrypted credentials; NULL once disconnected.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: Names of the credential fields (not secret), for display.
    credential_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    #: ``AccountStatus`` enum number.
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    status_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    followers: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PostingQueueRow(Base):
    """An account's recurring weekly posting slots."""

    __tablename__ = "publishing_posting_queues"

    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("publishing_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    #: ``[{"weekday": 1..7, "time": "HH:MM"}, ...]``, sorted.
    slots: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MediaRow(Base):
    __tablename__ = "publishing_media"
    __table_args__ = (Index("ix_publishing_media_tenant_created", "tenant", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: ``MediaType`` enum number.
    type: Mapped[int] = mapped_column(Integer, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    alt_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    width: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    height: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duration_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    #: Where the store keeps the bytes (a relative path, or an object key).
    storage_key: Mapped[str] = mapped_column(String(500), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RateWindowRow(Base):
    """Calls counted in one fixed window of one rate limit (network, operation, scope key)."""

    __tablename__ = "publishing_rate_windows"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    #: Start of the window, in whole seconds since the epoch.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
