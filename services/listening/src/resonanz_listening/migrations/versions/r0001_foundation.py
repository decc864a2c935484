"""Foundation schema: queries, cursors, mentions, their labels and the outbox.

This is exactly what ``metadata.create_all`` made before migrations existed, so a database created
that way is stamped at this revision (see :func:`resonanz_listening.migrate.upgrade_database`).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
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
        "listening_queries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_listening_queries_tenant_created", "listening_queries", ["tenant", "created_at", "id"]
    )

    op.create_table(
        "listening_cursors",
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["query_id"], ["listening_queries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("query_id", "network"),
    )

    op.create_table(
        "listening_mentions",
        sa.Column("seq", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("mention_id", sa.String(300), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("tenant", "mention_id", name="uq_listening_mentions_tenant_mention"),
    )
    op.create_index("ix_listening_mentions_tenant_seq", "listening_mentions", ["tenant", "seq"])

    op.create_table(
        "listening_mention_labels",
        sa.Column("seq", _auto_id(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["listening_mentions.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq", "label"),
    )
    op.create_index(
        "ix_listening_mention_labels_tenant_label", "listening_mention_labels", ["tenant", "label", "seq"]
    )

    op.create_table(
        "listening_outbox",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_listening_outbox_unsent", "listening_outbox", ["sent", "id"])


def downgrade() -> None:
    op.drop_table("listening_outbox")
    op.drop_table("listening_mention_labels")
    op.drop_table("listening_mentions")
    op.drop_table("listening_cursors")
    op.drop_table("listening_queries")
