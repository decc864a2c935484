"""Complete schema: scored mentions, their labels, hashtags and links; cascades, alerts, own posts
and campaign attribution.

This is exactly what ``metadata.create_all`` made before scoring had migrations, so a database
created that way is stamped at this revision (see :func:`resonanz_scoring.migrate.upgrade_database`).
Lengths: tenant 63, ids 512, labels 200, links and campaign terms 2,000 characters.

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


def upgrade() -> None:
    op.create_table(
        "scoring_alerts",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("z_score", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("sample_mention_ids", sa.JSON(), nullable=False),
        sa.Column("alert", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "id"),
    )
    op.create_index(
        "ix_scoring_alerts_tenant_label_raised",
        "scoring_alerts",
        ["tenant", "label", "raised_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_scoring_alerts_tenant_raised", "scoring_alerts", ["tenant", "raised_at", "id"], unique=False
    )
    op.create_table(
        "scoring_campaign_mentions",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("campaign_id", sa.String(length=512), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "campaign_id", "mention_id"),
    )
    op.create_index(
        "ix_scoring_campaign_mentions_time",
        "scoring_campaign_mentions",
        ["tenant", "campaign_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "scoring_campaign_terms",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("campaign_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("term", sa.String(length=2000), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "campaign_id", "kind", "term"),
    )
    op.create_index(
        "ix_scoring_campaign_terms_term", "scoring_campaign_terms", ["tenant", "kind", "term"], unique=False
    )
    op.create_table(
        "scoring_cascade_labels",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("root_mention_id", sa.String(length=512), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "label", "root_mention_id"),
    )
    op.create_index(
        "ix_scoring_cascade_labels_window",
        "scoring_cascade_labels",
        ["tenant", "label", "last_activity_at"],
        unique=False,
    )
    op.create_table(
        "scoring_cascade_members",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("root_mention_id", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "mention_id"),
    )
    op.create_index(
        "ix_scoring_cascade_members_root",
        "scoring_cascade_members",
        ["tenant", "root_mention_id"],
        unique=False,
    )
    op.create_table(
        "scoring_cascades",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("root_mention_id", sa.String(length=512), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("structural_virality", sa.Float(), nullable=False),
        sa.Column("growth_rate_per_hour", sa.Float(), nullable=False),
        sa.Column("estimated_reach", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("root_seen", sa.Boolean(), nullable=False),
        sa.Column("root_author_handle", sa.String(length=300), nullable=False),
        sa.Column("root_text", sa.String(length=1000), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "root_mention_id"),
    )
    op.create_index(
        "ix_scoring_cascades_tenant_activity",
        "scoring_cascades",
        ["tenant", "last_activity_at"],
        unique=False,
    )
    op.create_table(
        "scoring_mention_hashtags",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("hashtag", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "mention_id", "hashtag"),
    )
    op.create_table(
        "scoring_mention_labels",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("network", sa.String(length=100), server_default="", nullable=False),
        sa.Column("sentiment", sa.SmallInteger(), nullable=False),
        sa.Column("estimated_reach", sa.BigInteger(), nullable=False),
        sa.Column("estimated_impressions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "label", "mention_id"),
    )
    op.create_index(
        "ix_scoring_mention_labels_tenant_time",
        "scoring_mention_labels",
        ["tenant", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_scoring_mention_labels_window",
        "scoring_mention_labels",
        ["tenant", "label", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "scoring_mention_links",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "mention_id", "link"),
    )
    op.create_table(
        "scoring_mentions",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("author_id", sa.String(length=300), server_default="", nullable=False),
        sa.Column("author_handle", sa.String(length=300), server_default="", nullable=False),
        sa.Column("author_followers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("author_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("in_reply_to", sa.String(length=512), server_default="", nullable=False),
        sa.Column("reshare_of", sa.String(length=512), server_default="", nullable=False),
        sa.Column("quote_of", sa.String(length=512), server_default="", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("sentiment", sa.SmallInteger(), nullable=False),
        sa.Column("sentiment_confidence", sa.Float(), nullable=False),
        sa.Column("polarity", sa.Float(), nullable=False),
        sa.Column("likes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("shares", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("replies", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("quotes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("views", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("engagement_rate", sa.Float(), nullable=False),
        sa.Column("estimated_reach", sa.BigInteger(), nullable=False),
        sa.Column("estimated_impressions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("author_influence", sa.Float(), nullable=False),
        sa.Column("scorer", sa.String(length=100), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mention", sa.LargeBinary(), nullable=False),
        sa.Column("emitted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "mention_id"),
    )
    op.create_index(
        "ix_scoring_mentions_tenant_author",
        "scoring_mentions",
        ["tenant", "author", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_scoring_mentions_tenant_in_reply_to", "scoring_mentions", ["tenant", "in_reply_to"], unique=False
    )
    op.create_index(
        "ix_scoring_mentions_tenant_occurred", "scoring_mentions", ["tenant", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_scoring_mentions_tenant_reshare_of", "scoring_mentions", ["tenant", "reshare_of"], unique=False
    )
    op.create_table(
        "scoring_own_posts",
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("post_id", sa.String(length=512), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=False),
        sa.Column("mention_id", sa.String(length=512), nullable=False),
        sa.Column("campaign_id", sa.String(length=512), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("replies", sa.BigInteger(), nullable=False),
        sa.Column("quotes", sa.BigInteger(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("engagement", sa.BigInteger(), nullable=False),
        sa.Column("estimated_reach", sa.BigInteger(), nullable=False),
        sa.Column("estimated_impressions", sa.BigInteger(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "post_id", "network", "account"),
    )
    op.create_index(
        "ix_scoring_own_posts_account",
        "scoring_own_posts",
        ["tenant", "network", "account", "published_at"],
        unique=False,
    )
    op.create_index(
        "ix_scoring_own_posts_campaign",
        "scoring_own_posts",
        ["tenant", "campaign_id", "published_at"],
        unique=False,
    )
    op.create_index(
        "ix_scoring_own_posts_mention", "scoring_own_posts", ["tenant", "mention_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_scoring_own_posts_mention", table_name="scoring_own_posts")
    op.drop_index("ix_scoring_own_posts_campaign", table_name="scoring_own_posts")
    op.drop_index("ix_scoring_own_posts_account", table_name="scoring_own_posts")
    op.drop_table("scoring_own_posts")
    op.drop_index("ix_scoring_mentions_tenant_reshare_of", table_name="scoring_mentions")
    op.drop_index("ix_scoring_mentions_tenant_occurred", table_name="scoring_mentions")
    op.drop_index("ix_scoring_mentions_tenant_in_reply_to", table_name="scoring_mentions")
    op.drop_index("ix_scoring_mentions_tenant_author", table_name="scoring_mentions")
    op.drop_table("scoring_mentions")
    op.drop_table("scoring_mention_links")
    op.drop_index("ix_scoring_mention_labels_window", table_name="scoring_mention_labels")
    op.drop_index("ix_scoring_mention_labels_tenant_time", table_name="scoring_mention_labels")
    op.drop_table("scoring_mention_labels")
    op.drop_table("scoring_mention_hashtags")
    op.drop_index("ix_scoring_cascades_tenant_activity", table_name="scoring_cascades")
    op.drop_table("scoring_cascades")
    op.drop_index("ix_scoring_cascade_members_root", table_name="scoring_cascade_members")
    op.drop_table("scoring_cascade_members")
    op.drop_index("ix_scoring_cascade_labels_window", table_name="scoring_cascade_labels")
    op.drop_table("scoring_cascade_labels")
    op.drop_index("ix_scoring_campaign_terms_term", table_name="scoring_campaign_terms")
    op.drop_table("scoring_campaign_terms")
    op.drop_index("ix_scoring_campaign_mentions_time", table_name="scoring_campaign_mentions")
    op.drop_table("scoring_campaign_mentions")
    op.drop_index("ix_scoring_alerts_tenant_raised", table_name="scoring_alerts")
    op.drop_index("ix_scoring_alerts_tenant_label_raised", table_name="scoring_alerts")
    op.drop_table("scoring_alerts")
