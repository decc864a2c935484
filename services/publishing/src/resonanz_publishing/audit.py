"""The audit log: who did what to which post (or to the workspace), when.

Rows are written with :func:`record` inside the transaction of the change they describe, so the log
and the data never disagree. The dispatcher and the workers act as :data:`SYSTEM_ACTOR`. Details are
for people and never hold a secret (no credentials, no tokens).
"""

from __future__ import annotations

from resonanz.publishing.v1.publishing_service_pb2 import AuditEvent
from resonanz_sdk.db import session_factory
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.convert import now_utc, to_timestamp
from resonanz_publishing.models import AuditEventRow

SYSTEM_ACTOR = "system"
#: Shown for calls without an x-resonanz-actor in an open workspace.
ANONYMOUS_ACTOR = "anonymous"
MAX_DETAIL_LENGTH = 2000


def record(
    session: AsyncSession,
    *,
    tenant: str,
    action: str,
    actor: str,
    post_id: str = "",
    from_status: int = 0,
    to_status: int = 0,
    detail: str = "",
) -> AuditEventRow:
    """Add one audit event to ``session`` (committed with the caller's transaction)."""
    row = AuditEventRow(
        tenant=tenant,
        post_id=post_id,
        actor=actor or ANONYMOUS_ACTOR,
        action=action,
        from_status=from_status,
        to_status=to_status,
        detail=detail[:MAX_DETAIL_LENGTH],
        at=now_utc(),
    )
    session.add(row)
    return row


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def list_events(
        self, tenant: str, *, post_id: str = "", limit: int, after_id: int = 0
    ) -> tuple[list[AuditEventRow], int | None]:
        """Oldest first; one page after ``after_id`` and the id to continue after (``None``: no more)."""
        stmt = select(AuditEventRow).where(AuditEventRow.tenant == tenant, AuditEventRow.id > after_id)
        if post_id:
            stmt = stmt.where(AuditEventRow.post_id == post_id)
        stmt = stmt.order_by(AuditEventRow.id).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, rows[-1].id
        return rows, None


def audit_event_to_proto(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=str(row.id),
        post_id=row.post_id,
        actor=row.actor,
        action=row.action,
        from_status=row.from_status,  # type: ignore[arg-type]
        to_status=row.to_status,  # type: ignore[arg-type]
        detail=row.detail,
        at=to_timestamp(row.at),
    )
