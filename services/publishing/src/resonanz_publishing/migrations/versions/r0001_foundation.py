"""Foundation schema: posts, their targets, the outbox and processed event ids.

This is exactly what ``metadata.create_all`` made before migrations existed, so a database created
that way is stamped at this revision (see :func:`resonanz_publishing.migrate.upgrade_database`).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _auto_id() -> sa.types.TypeEngine[int]:
    """BIGINT (BIGSERIAL) on PostgreSQL, INTEGER on SQLite so that it is the auto-incrementing rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "publishing_posts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_posts")),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_publishing_posts_tenant_idempotency_key"),
    )
    op.create_index("ix_publishing_posts_tenant_created", "publishing_posts", ["tenant", "created_at", "id"])
    op.create_index("ix_publishing_posts_due", "publishing_posts", ["status", "scheduled_at"])

    op.create_table(
        "publishing_post_targets",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_post_targets")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["publishing_posts.id"],
            name=op.f("fk_publishing_post_targets_post_id_publishing_posts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "post_id", "network", "account", name="uq_publishing_post_targets_post_network_account"
        ),
    )
    op.create_index("ix_publishing_post_targets_status", "publishing_post_targets", ["status"])

    op.create_table(
        "publishing_outbox",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_outbox")),
    )
    op.create_index("ix_publishing_outbox_unsent", "publishing_outbox", ["sent_at", "id"])

    op.create_table(
        "publishing_processed_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_publishing_processed_events")),
    )


def downgrade() -> None:
    op.drop_table("publishing_processed_events")
    op.drop_index("ix_publishing_outbox_unsent", table_name="publishing_outbox")
    op.drop_table("publishing_outbox")
    op.drop_index("ix_publishing_post_targets_status", table_name="publishing_post_targets")
    op.drop_table("publishing_post_targets")
    op.drop_index("ix_publishing_posts_due", table_name="publishing_posts")
    op.drop_index("ix_publishing_posts_tenant_created", table_name="publishing_posts")
    op.drop_table("publishing_posts")
