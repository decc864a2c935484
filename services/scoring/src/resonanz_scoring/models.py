"""The scoring service's tables (all prefixed ``scoring_``), SQLAlchemy 2 Core.

* ``scoring_mentions``: one row per scored mention and tenant: the scores, the time it counts at
  (``occurred_at``: published, else collected, else scored), the serialised Mention, and whether its
  ``mentions.scored`` event went out (``emitted``; an outbox flag so that a failed publish is retried
  and a redelivery does not publish twice).
* ``scoring_mention_labels``: one row per (mention, label), carrying copies of the columns the brand
  aggregates need, so that ``GetBrandScores`` reads one indexed table.
* ``scoring_mention_hashtags``: one row per (mention, hashtag), lower-cased, without "#".
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

metadata = MetaData()

TENANT_LEN = 63
ID_LEN = 512
LABEL_LEN = 200

mentions = Table(
    "scoring_mentions",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("network", String(100), nullable=False),
    Column("author", String(300), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("language", String(16), nullable=False),
    Column("sentiment", SmallInteger, nullable=False),
    Column("sentiment_confidence", Float, nullable=False),
    Column("polarity", Float, nullable=False),
    Column("engagement", BigInteger, nullable=False),
    Column("engagement_rate", Float, nullable=False),
    Column("estimated_reach", BigInteger, nullable=False),
    Column("author_influence", Float, nullable=False),
    Column("scorer", String(100), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("mention", LargeBinary, nullable=False),
    Column("emitted", Boolean, nullable=False, default=False),
)
Index("ix_scoring_mentions_tenant_occurred", mentions.c.tenant, mentions.c.occurred_at)

mention_labels = Table(
    "scoring_mention_labels",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("label", String(LABEL_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("sentiment", SmallInteger, nullable=False),
    Column("estimated_reach", BigInteger, nullable=False),
    Column("engagement", BigInteger, nullable=False),
    Column("author", String(300), nullable=False),
)
Index(
    "ix_scoring_mention_labels_window",
    mention_labels.c.tenant,
    mention_labels.c.label,
    mention_labels.c.occurred_at,
)
Index("ix_scoring_mention_labels_tenant_time", mention_labels.c.tenant, mention_labels.c.occurred_at)

mention_hashtags = Table(
    "scoring_mention_hashtags",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("hashtag", String(300), primary_key=True),
)
