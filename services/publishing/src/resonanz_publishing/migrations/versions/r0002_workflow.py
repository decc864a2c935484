"""Workflow, accounts, media and rate limits (issue 3).

* ``publishing_posts``: UTM parameters, author, approval steps, schedule mode, time zone, reply-to.
* ``publishing_post_targets``: per-target schedule (``scheduled_at``), dispatch time (``due_at``),
  deferred retry time and deletion time, with their indexes. PENDING targets of SCHEDULED posts get
  ``scheduled_at`` and ``due_at`` from their post, so the dispatcher (which now reads ``due_at``) still
  finds posts scheduled before the upgrade.
* New tables: approvals, comments, audit events, members, approval policies, campaigns, accounts,
  posting queues, media, rate windows.

New NOT NULL columns carry server defaults, so existing rows survive and a replica still running the
previous code can keep inserting while the others roll over.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose (a migration must not change when the protos do):
POST_STATUS_SCHEDULED = 4  # resonanz.common.v1.PostStatus.POST_STATUS_SCHEDULED
TARGET_STATUS_PENDING = 1  # resonanz.common.v1.TargetStatus.TARGET_STATUS_PENDING

NEW_TABLES = (
    "publishing_rate_windows",
    "publishing_media",
    "publishing_posting_queues",
    "publishing_accounts",
    "publishing_campaigns",
    "publishing_approval_policies",
    "publishing_members",
    "publishing_audit_events",
    "publishing_comments",
    "publishing_approvals",
)


def _auto_id() -> sa.types.TypeEngine[int]:
    """BIGINT (BIGSERIAL) on PostgreSQL, INTEGER on SQLite so that it is the auto-incrementing rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("publishing_posts") as posts:
        posts.add_column(sa.Column("utm", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        posts.add_column(sa.Column("created_by", sa.String(200), nullable=False, server_default=""))
        posts.add_column(sa.Column("approval_steps", sa.Integer(), nullable=False, server_default="0"))
        posts.add_column(sa.Column("schedule_mode", sa.String(16), nullable=False, server_default="now"))
        posts.add_column(sa.Column("time_zone", sa.String(64), nullable=False, server_default=""))
        posts.add_column(sa.Column("in_reply_to", sa.String(200), nullable=False, server_default=""))

    with op.batch_alter_table("publishing_post_targets") as targets:
        targets.add_column(sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))
        targets.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        targets.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        targets.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        targets.create_index("ix_publishing_post_targets_due", ["status", "due_at"])
        targets.create_index(
            "ix_publishing_post_targets_account", ["tenant", "network", "account", "scheduled_at"]
        )

    op.execute(
        sa.text(
            "UPDATE publishing_post_targets SET"
            " scheduled_at = (SELECT p.scheduled_at FROM publishing_posts p"
            "                 WHERE p.id = publishing_post_targets.post_id),"
            " due_at = (SELECT p.scheduled_at FROM publishing_posts p"
            "           WHERE p.id = publishing_post_targets.post_id)"
            " WHERE status = :pending"
            " AND post_id IN (SELECT id FROM publishing_posts WHERE status = :scheduled)"
        ).bindparams(pending=TARGET_STATUS_PENDING, scheduled=POST_STATUS_SCHEDULED)
    )

    op.create_table(
        "publishing_approvals",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_approvals")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["publishing_posts.id"],
            name=op.f("fk_publishing_approvals_post_id_publishing_posts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("post_id", "step", "approver", name="uq_publishing_approvals_post_step_approver"),
    )

    op.create_table(
        "publishing_comments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("post_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_comments")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["publishing_posts.id"],
            name=op.f("fk_publishing_comments_post_id_publishing_posts"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_publishing_comments_post", "publishing_comments", ["post_id", "created_at"])

    op.create_table(
        "publishing_audit_events",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("post_id", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("from_status", sa.Integer(), nullable=False),
        sa.Column("to_status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_audit_events")),
    )
    op.create_index("ix_publishing_audit_events_tenant", "publishing_audit_events", ["tenant", "id"])
    op.create_index("ix_publishing_audit_events_post", "publishing_audit_events", ["post_id", "id"])

    op.create_table(
        "publishing_members",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "user", name=op.f("pk_publishing_members")),
    )

    op.create_table(
        "publishing_approval_policies",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("allow_self_approval", sa.Boolean(), nullable=False),
        sa.Column("review_replies", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_publishing_approval_policies")),
    )

    op.create_table(
        "publishing_campaigns",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hashtags", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("utm", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_campaigns")),
        sa.UniqueConstraint(
            "tenant", "idempotency_key", name="uq_publishing_campaigns_tenant_idempotency_key"
        ),
    )
    op.create_index(
        "ix_publishing_campaigns_tenant_created", "publishing_campaigns", ["tenant", "created_at", "id"]
    )

    op.create_table(
        "publishing_accounts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("handle", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("credential_fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("followers", sa.BigInteger(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_accounts")),
        sa.UniqueConstraint(
            "tenant", "network", "handle", name="uq_publishing_accounts_tenant_network_handle"
        ),
    )

    op.create_table(
        "publishing_posting_queues",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_publishing_posting_queues")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["publishing_accounts.id"],
            name=op.f("fk_publishing_posting_queues_account_id_publishing_accounts"),
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "publishing_media",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("alt_text", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("storage_key", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_media")),
    )
    op.create_index("ix_publishing_media_tenant_created", "publishing_media", ["tenant", "created_at"])

    op.create_table(
        "publishing_rate_windows",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_publishing_rate_windows")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes on both databases; children go before their parents.
    for table in NEW_TABLES:
        op.drop_table(table)

    with op.batch_alter_table("publishing_post_targets") as targets:
        targets.drop_index("ix_publishing_post_targets_account")
        targets.drop_index("ix_publishing_post_targets_due")
        targets.drop_column("deleted_at")
        targets.drop_column("next_attempt_at")
        targets.drop_column("due_at")
        targets.drop_column("scheduled_at")

    with op.batch_alter_table("publishing_posts") as posts:
        posts.drop_column("in_reply_to")
        posts.drop_column("time_zone")
        posts.drop_column("schedule_mode")
        posts.drop_column("approval_steps")
        posts.drop_column("created_by")
        posts.drop_column("utm")
