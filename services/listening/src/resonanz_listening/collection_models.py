"""The collection tables (all prefixed ``listening_``), on the service's declarative ``Base``.

* ``listening_replicas``: one row per running listening replica and its last heartbeat; live replicas
  are those whose heartbeat is younger than the lease TTL (for each replica's fair share).
* ``listening_leases``: who collects a (query, network): owner replica, expiry and a fencing
  ``generation`` that grows by one at every change of owner. Writes for the pair check it.
* ``listening_collection_state``: per (query, network): mode, last poll, back-off, last error,
  paused (after a permanent error), mentions collected. Any replica answers GetQueryStatus from it.
* ``listening_backfills``: historical backfill jobs, with their own lease columns (the job runs on
  one replica at a time and resumes elsewhere when that replica dies).
* ``listening_backfill_networks``: per-network progress of a job (cursor, reached, fetched, collected).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from resonanz_listening.models import Base


class ReplicaRow(Base):
    __tablename__ = "listening_replicas"

    replica_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LeaseRow(Base):
    __tablename__ = "listening_leases"
    __table_args__ = (Index("ix_listening_leases_owner", "owner"),)

    query_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(63), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: The replica collecting the pair; ``None`` when released.
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Fencing token: incremented whenever the owner changes.
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CollectionStateRow(Base):
    __tablename__ = "listening_collection_state"

    query_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(63), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    #: "poll" or "stream".
    mode: Mapped[str] = mapped_column(String(16), nullable=False, default="poll")
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    backoff_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Consecutive failures (drives the exponential back-off).
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: Set after a permanent or authentication error; cleared when the query is updated.
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    mentions_collected: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class BackfillRow(Base):
    __tablename__ = "listening_backfills"
    __table_args__ = (
        UniqueConstraint("tenant", "request_id", name="uq_listening_backfills_tenant_request"),
        Index("ix_listening_backfills_tenant_created", "tenant", "created_at", "id"),
        Index("ix_listening_backfills_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), nullable=False)
    query_id: Mapped[str] = mapped_column(String(32), nullable=False)
    #: The caller's idempotency key (``None`` when it gave none; NULLs never collide).
    request_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    networks: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    #: ``resonanz.listening.v1.BackfillState`` number.
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BackfillNetworkRow(Base):
    __tablename__ = "listening_backfill_networks"

    backfill_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("listening_backfills.id", ondelete="CASCADE"), primary_key=True
    )
    network: Mapped[str] = mapped_column(String(63), primary_key=True)
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Published-at time up to which this network is done (``since`` until the first page).
    reached: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    fetched: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    collected: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
