"""Collection leases: each (query, network) is collected by exactly one replica at a time.

A lease row per (query, network) names its owner replica, when the lease expires and a fencing
``generation`` that grows by one whenever the owner changes. Everything is a conditional
``UPDATE ... WHERE`` (SQLite and PostgreSQL alike, no advisory locks):

* **claim**: ``SET owner = me, generation = generation + 1 WHERE owner IS NULL OR expires_at < now``;
* **renew**: ``SET expires_at = now + ttl WHERE owner = me`` (every ``renew`` seconds);
* **release** (graceful stop, or shedding beyond the fair share): ``SET owner = NULL WHERE owner = me``;
* **fence**: every write for a pair (cursor, mentions, state) first runs
  ``UPDATE ... WHERE owner = me AND generation = g`` in the same transaction and writes nothing when
  no row matched. A replica that lost its lease during a pause therefore cannot move a cursor back or
  store a round twice; on PostgreSQL the fence update also row-locks the lease until commit, so a
  takeover waits for an in-flight round to commit and then sees its cursor.

Replicas heartbeat into ``listening_replicas``; a replica is live while its heartbeat is younger
than the TTL. Each replica holds at most its fair share ``ceil(pairs / live replicas)``: a new
replica makes the others shed leases (they release the extras at their next sync), and a dead
replica's leases expire after the TTL and are claimed by the survivors.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from resonanz_sdk import metrics
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening.collection_models import LeaseRow, ReplicaRow

PairKey = tuple[str, str]
"""(query id, network)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_replica_id() -> str:
    """``hostname-pid-random``: unique per start, readable in GetQueryStatus and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def insert_ignore(session: AsyncSession, table: Any) -> Any:
    """An ``INSERT ... ON CONFLICT DO NOTHING`` for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def fair_share(pairs: int, live_replicas: int) -> int:
    """How many pairs one replica may hold: ``ceil(pairs / live replicas)``."""
    return math.ceil(pairs / max(1, live_replicas))


@dataclass(frozen=True)
class Lease:
    """A lease this replica holds: the fencing token is ``(owner, generation)``."""

    query_id: str
    network: str
    tenant: str
    owner: str
    generation: int

    @property
    def key(self) -> PairKey:
        return (self.query_id, self.network)

    def fence(self) -> LeaseFence:
        return LeaseFence(self.query_id, self.network, self.owner, self.generation)


@dataclass(frozen=True)
class LeaseFence:
    """Checks, inside a write transaction, that the lease is still held with the same generation."""

    query_id: str
    network: str
    owner: str
    generation: int

    async def holds(self, session: AsyncSession) -> bool:
        result = await session.execute(
            update(LeaseRow)
            .where(
                LeaseRow.query_id == self.query_id,
                LeaseRow.network == self.network,
                LeaseRow.owner == self.owner,
                LeaseRow.generation == self.generation,
            )
            .values(generation=LeaseRow.generation)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _spread_order(replica_id: str, key: PairKey) -> int:
    """A replica-specific order of the pairs, so replicas starting together reach for different ones."""
    return zlib.crc32(f"{replica_id}\0{key[0]}\0{key[1]}".encode())


class LeaseManager:
    """The leases of one replica. ``sync`` is called every ``renew`` seconds by the collector."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        replica_id: str,
        *,
        ttl: float,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the lease TTL must be positive")
        self._sessions = sessions
        self.replica_id = replica_id
        self._ttl = timedelta(seconds=ttl)
        self._now = now
        self._started = now()
        self.held: dict[PairKey, Lease] = {}
        self.live_replicas = 1
        self._gauged: set[str] = set()

    async def heartbeat(self) -> int:
        """Record that this replica is alive; returns the number of live replicas (itself included)."""
        now = self._now()
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert_ignore(session, ReplicaRow.__table__).values(
                    replica_id=self.replica_id, started_at=self._started, heartbeat_at=now
                )
            )
            await session.execute(
                update(ReplicaRow).where(ReplicaRow.replica_id == self.replica_id).values(heartbeat_at=now)
            )
            # Forget replicas dead for a long time (their leases expired long ago).
            await session.execute(delete(ReplicaRow).where(ReplicaRow.heartbeat_at < now - 100 * self._ttl))
            live = await session.scalar(
                select(func.count()).select_from(ReplicaRow).where(ReplicaRow.heartbeat_at > now - self._ttl)
            )
        self.live_replicas = max(1, int(live or 0))
        return self.live_replicas

    async def sync(self, wanted: Mapping[PairKey, str]) -> dict[PairKey, Lease]:
        """Heartbeat, renew, shed beyond the fair share, claim free pairs; returns the leases held.

        ``wanted`` maps every pair that should be collected (by any replica) to its tenant.
        """
        live = await self.heartbeat()
        share = fair_share(len(wanted), live)
        now = self._now()
        expires = now + self._ttl
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(LeaseRow).where(LeaseRow.owner == self.replica_id).values(expires_at=expires)
            )
            rows = list(await session.scalars(select(LeaseRow).where(LeaseRow.owner == self.replica_id)))
        held = {
            (r.query_id, r.network): Lease(r.query_id, r.network, r.tenant, self.replica_id, r.generation)
            for r in rows
        }
        unwanted = [lease for key, lease in held.items() if key not in wanted]
        kept = sorted(
            (lease for key, lease in held.items() if key in wanted),
            key=lambda lease: _spread_order(self.replica_id, lease.key),
        )
        await self._release([*unwanted, *kept[share:]])
        held = {lease.key: lease for lease in kept[:share]}
        if len(held) < share:
            held.update(await self._claim(wanted, held, share - len(held), now))
        self.held = held
        self._observe()
        return dict(held)

    def _observe(self) -> None:
        """Set ``resonanz_collection_leases_held`` per network (0 for networks no longer held)."""
        counts: dict[str, int] = {}
        for _, network in self.held:
            counts[network] = counts.get(network, 0) + 1
        for network in self._gauged | counts.keys():
            metrics.COLLECTION_LEASES_HELD.labels(network=network).set(counts.get(network, 0))
        self._gauged |= counts.keys()

    async def _claim(
        self, wanted: Mapping[PairKey, str], held: Mapping[PairKey, Lease], room: int, now: datetime
    ) -> dict[PairKey, Lease]:
        candidates = sorted(
            (key for key in wanted if key not in held), key=lambda k: _spread_order(self.replica_id, k)
        )
        if not candidates:
            return {}
        claimed: dict[PairKey, Lease] = {}
        async with self._sessions() as session, session.begin():
            existing = {
                (r.query_id, r.network): r
                for r in await session.scalars(
                    select(LeaseRow).where(LeaseRow.query_id.in_(sorted({q for q, _ in candidates})))
                )
            }
            missing = [key for key in candidates if key not in existing]
            if missing:
                await session.execute(
                    insert_ignore(session, LeaseRow.__table__),
                    [
                        {
                            "query_id": q,
                            "network": n,
                            "tenant": wanted[(q, n)],
                            "owner": None,
                            "generation": 0,
                            "expires_at": _EPOCH,
                        }
                        for q, n in missing
                    ],
                )
        for key in candidates:
            if len(claimed) >= room:
                break
            row = existing.get(key)
            if row is not None and row.owner is not None and _aware(row.expires_at) >= now:
                continue  # someone else's live lease
            lease = await self._try_claim(key, wanted[key], now)
            if lease is not None:
                claimed[key] = lease
        return claimed

    async def _try_claim(self, key: PairKey, tenant: str, now: datetime) -> Lease | None:
        query_id, network = key
        claim = update(LeaseRow).values(
            owner=self.replica_id, generation=LeaseRow.generation + 1, expires_at=now + self._ttl
        )
        pair = and_(LeaseRow.query_id == query_id, LeaseRow.network == network)
        took_over = False
        async with self._sessions() as session, session.begin():
            # A free lease first, then an expired one (a takeover): two conditional updates, so the
            # takeover count is exact (both conditions together are the claim condition).
            result = await session.execute(
                claim.where(pair, LeaseRow.owner.is_(None)).execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                result = await session.execute(
                    claim.where(
                        pair, LeaseRow.owner.is_not(None), LeaseRow.expires_at < now
                    ).execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    return None
                took_over = True
            generation = await session.scalar(
                select(LeaseRow.generation).where(LeaseRow.query_id == query_id, LeaseRow.network == network)
            )
        if took_over:
            metrics.COLLECTION_LEASES_EXPIRED.labels(network=network).inc()
        return Lease(query_id, network, tenant, self.replica_id, int(generation or 0))

    async def _release(self, leases: list[Lease]) -> None:
        if not leases:
            return
        now = self._now()
        async with self._sessions() as session, session.begin():
            for lease in leases:
                await session.execute(
                    update(LeaseRow)
                    .where(
                        LeaseRow.query_id == lease.query_id,
                        LeaseRow.network == lease.network,
                        LeaseRow.owner == self.replica_id,
                        LeaseRow.generation == lease.generation,
                    )
                    .values(owner=None, expires_at=now)
                )
        for lease in leases:
            self.held.pop(lease.key, None)

    async def release_all(self) -> None:
        """Graceful stop: give every lease back at once and leave the live replicas."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(LeaseRow)
                .where(LeaseRow.owner == self.replica_id)
                .values(owner=None, expires_at=self._now())
            )
            await session.execute(delete(ReplicaRow).where(ReplicaRow.replica_id == self.replica_id))
        self.held = {}
        self._observe()


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def drop_query_leases(session: AsyncSession, query_id: str) -> None:
    """Forget the leases of a deleted query (inside the caller's transaction)."""
    await session.execute(delete(LeaseRow).where(LeaseRow.query_id == query_id))
