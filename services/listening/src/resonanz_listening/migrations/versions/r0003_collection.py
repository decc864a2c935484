"""Collection over replicas: replica heartbeats, leases with fencing generations, the collection
state of each (query, network), and historical backfill jobs with their per-network progress
(the tables of :mod:`resonanz_listening.collection_models`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_replicas",
        sa.Column("replica_id", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("replica_id"),
    )

    op.create_table(
        "listening_leases",
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query_id", "network"),
    )
    op.create_index("ix_listening_leases_owner", "listening_leases", ["owner"])

    op.create_table(
        "listening_collection_state",
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("mentions_collected", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("query_id", "network"),
    )

    op.create_table(
        "listening_backfills",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "request_id", name="uq_listening_backfills_tenant_request"),
    )
    op.create_index(
        "ix_listening_backfills_tenant_created", "listening_backfills", ["tenant", "created_at", "id"]
    )
    op.create_index("ix_listening_backfills_state", "listening_backfills", ["state"])

    op.create_table(
        "listening_backfill_networks",
        sa.Column("backfill_id", sa.String(32), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("reached", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched", sa.BigInteger(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["backfill_id"], ["listening_backfills.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("backfill_id", "network"),
    )


def downgrade() -> None:
    op.drop_table("listening_backfill_networks")
    op.drop_table("listening_backfills")
    op.drop_table("listening_collection_state")
    op.drop_table("listening_leases")
    op.drop_table("listening_replicas")
