"""The scoring service's tables (all prefixed ``scoring_``), SQLAlchemy 2.

The scored-mention tables are Core tables on :data:`metadata`; :class:`Base` is a declarative base on
the same metadata, so ORM classes of other modules (cascades, alerts, campaigns) live in the same
schema, the same ``create_all`` and the same Alembic history.

* ``scoring_mentions``: one row per scored mention and tenant: the scores, the author, the thread
  and reshare links, the time it counts at (``occurred_at``: published, else collected, else scored),
  the serialised Mention, and whether it is done (``emitted``: its ``mentions.scored`` event went out
  and every batch observer saw it; an outbox flag, so that a failure is retried on redelivery and a
  redelivery after success changes nothing).
  ``in_reply_to``, ``reshare_of`` and ``quote_of`` are in mention-id form ``<network>:<external_id>``
  (empty when none), so they join ``mention_id`` directly. Engagement counts are the latest known
  (``engagement.updates`` refreshes them and the metrics derived from them; ``updated_at``).
* ``scoring_mention_labels``: one row per (mention, label), carrying copies of the columns the brand
  aggregates need, so that label queries read one indexed table.
* ``scoring_mention_hashtags``: one row per (mention, hashtag), lower-cased, without "#".
* ``scoring_mention_links``: one row per (mention, link) as given by the network (at most 2,000
  characters).
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
    false,
)
from sqlalchemy.orm import DeclarativeBase

metadata = MetaData()


class Base(DeclarativeBase):
    """Declarative base of the scoring service's ORM classes; shares :data:`metadata`."""

    metadata = metadata


TENANT_LEN = 63
ID_LEN = 512
LABEL_LEN = 200
LINK_LEN = 2000

mentions = Table(
    "scoring_mentions",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("network", String(100), nullable=False),
    # How aggregates name the author: the handle, else the network's id.
    Column("author", String(300), nullable=False),
    Column("author_id", String(300), nullable=False, server_default=""),
    Column("author_handle", String(300), nullable=False, server_default=""),
    Column("author_followers", BigInteger, nullable=False, server_default="0"),
    Column("author_verified", Boolean, nullable=False, server_default=false()),
    Column("in_reply_to", String(ID_LEN), nullable=False, server_default=""),
    Column("reshare_of", String(ID_LEN), nullable=False, server_default=""),
    Column("quote_of", String(ID_LEN), nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("language", String(16), nullable=False),
    Column("sentiment", SmallInteger, nullable=False),
    Column("sentiment_confidence", Float, nullable=False),
    Column("polarity", Float, nullable=False),
    Column("likes", BigInteger, nullable=False, server_default="0"),
    Column("shares", BigInteger, nullable=False, server_default="0"),
    Column("replies", BigInteger, nullable=False, server_default="0"),
    Column("quotes", BigInteger, nullable=False, server_default="0"),
    Column("views", BigInteger, nullable=False, server_default="0"),
    Column("engagement", BigInteger, nullable=False),
    Column("engagement_rate", Float, nullable=False),
    Column("estimated_reach", BigInteger, nullable=False),
    Column("estimated_impressions", BigInteger, nullable=False, server_default="0"),
    Column("author_influence", Float, nullable=False),
    Column("scorer", String(100), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    Column("mention", LargeBinary, nullable=False),
    Column("emitted", Boolean, nullable=False, default=False),
)
Index("ix_scoring_mentions_tenant_occurred", mentions.c.tenant, mentions.c.occurred_at)
Index("ix_scoring_mentions_tenant_author", mentions.c.tenant, mentions.c.author, mentions.c.occurred_at)
Index("ix_scoring_mentions_tenant_reshare_of", mentions.c.tenant, mentions.c.reshare_of)
Index("ix_scoring_mentions_tenant_in_reply_to", mentions.c.tenant, mentions.c.in_reply_to)

mention_labels = Table(
    "scoring_mention_labels",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("label", String(LABEL_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("network", String(100), nullable=False, server_default=""),
    Column("sentiment", SmallInteger, nullable=False),
    Column("estimated_reach", BigInteger, nullable=False),
    Column("estimated_impressions", BigInteger, nullable=False, server_default="0"),
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

mention_links = Table(
    "scoring_mention_links",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("mention_id", String(ID_LEN), primary_key=True),
    Column("link", String(LINK_LEN), primary_key=True),
)
