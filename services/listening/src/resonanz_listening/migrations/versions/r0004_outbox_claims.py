"""Outbox claims: the relay that is sending a row (``claimed_by``) and until when (``claimed_until``),
so that the relays of several replicas send each row once; an index on (topic, key, sent) for the
per-key order check of a claim (see :mod:`resonanz_listening.outbox`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listening_outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_listening_outbox_key", "listening_outbox", ["topic", "key", "sent"])


def downgrade() -> None:
    op.drop_index("ix_listening_outbox_key", table_name="listening_outbox")
    with op.batch_alter_table("listening_outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
