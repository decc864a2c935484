"""Mention history: publication time and language of each mention, full-text search, query-id
index, engagement tracking.

* ``listening_mentions`` gains ``published_at`` and ``language`` (filled for existing rows from
  their stored ``Mention``), and the indexes for newest-first search and retention;
* PostgreSQL: the generated ``search_vector`` column (per-language text-search configuration) and
  its GIN index; SQLite: the FTS5 table ``listening_mentions_fts`` with its triggers, rebuilt from
  the existing rows (both from :mod:`resonanz_listening.search`; changing them needs a revision);
* ``listening_mention_queries`` (filled for existing rows) and ``listening_tracked_items``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op
from resonanz.common.v1.mention_pb2 import Mention
from resonanz_listening import search
from resonanz_listening.convert import language_code

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _auto_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fill_existing() -> list[tuple[int, str, list[str]]]:
    """Set published_at and language of the stored mentions; returns (seq, tenant, query ids)."""
    bind = op.get_bind()
    mentions = sa.table(
        "listening_mentions",
        sa.column("seq", sa.Integer()),
        sa.column("tenant", sa.String()),
        sa.column("payload", sa.LargeBinary()),
        sa.column("published_at", sa.DateTime(timezone=True)),
        sa.column("language", sa.String()),
    )
    refs: list[tuple[int, str, list[str]]] = []
    rows = bind.execute(sa.select(mentions.c.seq, mentions.c.tenant, mentions.c.payload)).all()
    for seq, tenant, payload in rows:
        mention = Mention.FromString(payload)
        source = mention.published_at if mention.HasField("published_at") else mention.collected_at
        bind.execute(
            mentions.update()
            .where(mentions.c.seq == seq)
            .values(published_at=source.ToDatetime(tzinfo=UTC), language=language_code(mention.language_hint))
        )
        refs.append((seq, tenant, sorted(set(mention.query_ids))))
    return refs


def upgrade() -> None:
    with op.batch_alter_table("listening_mentions") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("language", sa.String(16), nullable=False, server_default=""))
    refs = _fill_existing()
    with op.batch_alter_table("listening_mentions") as batch:
        batch.alter_column("published_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("language", existing_type=sa.String(16), server_default=None)
    op.create_index(
        "ix_listening_mentions_tenant_published", "listening_mentions", ["tenant", "published_at", "seq"]
    )
    op.create_index("ix_listening_mentions_published", "listening_mentions", ["published_at"])

    op.create_table(
        "listening_mention_queries",
        sa.Column("seq", _auto_id(), nullable=False),
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["listening_mentions.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq", "query_id"),
    )
    op.create_index(
        "ix_listening_mention_queries_tenant_query",
        "listening_mention_queries",
        ["tenant", "query_id", "seq"],
    )
    queries = sa.table(
        "listening_mention_queries",
        sa.column("seq", sa.Integer()),
        sa.column("query_id", sa.String()),
        sa.column("tenant", sa.String()),
    )
    values = [{"seq": s, "query_id": q, "tenant": t} for s, t, ids in refs for q in ids]
    if values:
        op.bulk_insert(queries, values)

    op.create_table(
        "listening_tracked_items",
        sa.Column("id", _auto_id(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("network", sa.String(63), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("subject", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshes", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("replies", sa.BigInteger(), nullable=True),
        sa.Column("quotes", sa.BigInteger(), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "network", "external_id", name="uq_listening_tracked_items_post"),
    )
    op.create_index("ix_listening_tracked_items_due", "listening_tracked_items", ["next_refresh_at"])

    if op.get_bind().dialect.name == "postgresql":
        for statement in search.POSTGRES_DDL:
            op.execute(statement)
    else:
        for statement in search.SQLITE_DDL:
            op.execute(statement)
        op.execute(f"INSERT INTO {search.FTS_TABLE}({search.FTS_TABLE}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(search.SEARCH_INDEX, table_name="listening_mentions")
        op.drop_column("listening_mentions", search.SEARCH_VECTOR)
    else:
        for statement in search.SQLITE_DROP:
            op.execute(statement)
    op.drop_table("listening_tracked_items")
    op.drop_table("listening_mention_queries")
    op.drop_index("ix_listening_mentions_published", table_name="listening_mentions")
    op.drop_index("ix_listening_mentions_tenant_published", table_name="listening_mentions")
    with op.batch_alter_table("listening_mentions") as batch:
        batch.drop_column("language")
        batch.drop_column("published_at")
