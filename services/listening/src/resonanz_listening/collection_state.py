"""The persisted collection state of each (query, network): written by the lease holder, read by all.

Writes happen inside the caller's transaction (the ingest round, or a fenced failure record), so a
replica that lost its lease changes nothing here either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening.collection_models import CollectionStateRow, LeaseRow
from resonanz_listening.convert import aware
from resonanz_listening.leases import PairKey, insert_ignore

#: Longest error text kept (network messages can be long).
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True)
class State:
    """A snapshot of one (query, network)'s collection state."""

    query_id: str
    network: str
    mode: str
    last_polled_at: datetime | None
    backoff_until: datetime | None
    failures: int
    last_error: str
    paused: bool
    mentions_collected: int

    @classmethod
    def of(cls, row: CollectionStateRow) -> State:
        return cls(
            query_id=row.query_id,
            network=row.network,
            mode=row.mode,
            last_polled_at=None if row.last_polled_at is None else aware(row.last_polled_at),
            backoff_until=None if row.backoff_until is None else aware(row.backoff_until),
            failures=row.failures,
            last_error=row.last_error,
            paused=row.paused,
            mentions_collected=row.mentions_collected,
        )


@dataclass(frozen=True)
class StatusEntry:
    """GetQueryStatus of one network: the state and the lease."""

    network: str
    state: State | None
    owner: str
    lease_expires_at: datetime | None


async def _ensure(session: AsyncSession, key: PairKey, tenant: str, mode: str) -> None:
    await session.execute(
        insert_ignore(session, CollectionStateRow.__table__).values(
            query_id=key[0],
            network=key[1],
            tenant=tenant,
            mode=mode,
            failures=0,
            last_error="",
            paused=False,
            mentions_collected=0,
        )
    )


def _where(key: PairKey) -> Any:
    return (CollectionStateRow.query_id == key[0]) & (CollectionStateRow.network == key[1])


async def record_success(
    session: AsyncSession, key: PairKey, tenant: str, *, mode: str, polled_at: datetime, collected: int
) -> None:
    """A successful poll (or stream batch): clear back-off and error, add ``collected``."""
    await _ensure(session, key, tenant, mode)
    await session.execute(
        update(CollectionStateRow)
        .where(_where(key))
        .values(
            mode=mode,
            last_polled_at=polled_at,
            backoff_until=None,
            failures=0,
            last_error="",
            mentions_collected=CollectionStateRow.mentions_collected + collected,
        )
    )


async def record_failure(
    session: AsyncSession,
    key: PairKey,
    tenant: str,
    *,
    mode: str,
    polled_at: datetime,
    error: str,
    backoff_until: datetime | None,
    paused: bool = False,
) -> None:
    """A failed poll: the error, the back-off (``None`` when paused); one more consecutive failure."""
    await _ensure(session, key, tenant, mode)
    await session.execute(
        update(CollectionStateRow)
        .where(_where(key))
        .values(
            mode=mode,
            last_polled_at=polled_at,
            backoff_until=backoff_until,
            failures=CollectionStateRow.failures + 1,
            last_error=error[:MAX_ERROR_LENGTH],
            paused=paused,
        )
    )


async def add_collected(session: AsyncSession, key: PairKey, collected: int) -> None:
    await session.execute(
        update(CollectionStateRow)
        .where(_where(key))
        .values(mentions_collected=CollectionStateRow.mentions_collected + collected)
    )


async def set_mode(session: AsyncSession, key: PairKey, tenant: str, mode: str) -> None:
    await _ensure(session, key, tenant, mode)
    await session.execute(update(CollectionStateRow).where(_where(key)).values(mode=mode))


class CollectionStates:
    """Reads of the collection state, and the changes query CRUD triggers."""

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def load(self, keys: Iterable[PairKey]) -> dict[PairKey, State]:
        wanted = set(keys)
        if not wanted:
            return {}
        query_ids = sorted({q for q, _ in wanted})
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CollectionStateRow).where(CollectionStateRow.query_id.in_(query_ids))
            )
            return {(r.query_id, r.network): State.of(r) for r in rows if (r.query_id, r.network) in wanted}

    async def status(self, tenant: str, query_id: str, networks: Iterable[str]) -> list[StatusEntry]:
        """Per network (the query's current ones, plus any with recorded state): state and lease."""
        async with self._sessions() as session:
            states = {
                r.network: State.of(r)
                for r in await session.scalars(
                    select(CollectionStateRow).where(
                        CollectionStateRow.tenant == tenant, CollectionStateRow.query_id == query_id
                    )
                )
            }
            leases = {
                r.network: r
                for r in await session.scalars(
                    select(LeaseRow).where(LeaseRow.tenant == tenant, LeaseRow.query_id == query_id)
                )
            }
        entries = []
        for network in sorted(set(networks) | set(states)):
            lease = leases.get(network)
            owner = lease.owner if lease is not None and lease.owner else ""
            entries.append(
                StatusEntry(
                    network=network,
                    state=states.get(network),
                    owner=owner,
                    lease_expires_at=aware(lease.expires_at) if lease is not None and owner else None,
                )
            )
        return entries

    async def resume(self, tenant: str, query_id: str) -> None:
        """Un-pause and clear the back-off of every network of the query (after an update)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(CollectionStateRow)
                .where(CollectionStateRow.tenant == tenant, CollectionStateRow.query_id == query_id)
                .values(paused=False, backoff_until=None, failures=0)
            )

    async def forget(self, session: AsyncSession, tenant: str, query_id: str) -> None:
        """Delete the query's state rows (inside the caller's transaction)."""
        await session.execute(
            delete(CollectionStateRow).where(
                CollectionStateRow.tenant == tenant, CollectionStateRow.query_id == query_id
            )
        )
