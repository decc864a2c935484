"""Read side of ListAlerts and StreamAlerts: the ``scoring_alerts`` rows the crisis agent writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from resonanz.events.v1 import events_pb2
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import AlertRow
from resonanz_scoring.convert import utc

alerts = AlertRow.__table__


async def alerts_newest_first(
    engine: AsyncEngine,
    tenant: str,
    label: str,
    limit: int,
    before: tuple[datetime, str] | None,
) -> list[tuple[datetime, events_pb2.Alert]]:
    """Up to ``limit`` alerts of ``tenant`` (of ``label`` unless empty), newest first (raised_at, then
    id, descending), strictly after the keyset position ``before`` in that order."""
    a = alerts.c
    query = select(a.raised_at, a.alert).where(a.tenant == tenant)
    if label:
        query = query.where(a.label == label)
    if before is not None:
        at, alert_id = before
        query = query.where(or_(a.raised_at < at, and_(a.raised_at == at, a.id < alert_id)))
    query = query.order_by(a.raised_at.desc(), a.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(utc(at), events_pb2.Alert.FromString(blob)) for at, blob in rows]


async def alerts_oldest_first(
    engine: AsyncEngine,
    tenant: str,
    labels: Sequence[str],
    after: tuple[datetime, str | None],
    limit: int,
) -> list[tuple[datetime, events_pb2.Alert]]:
    """Up to ``limit`` alerts of ``tenant`` (of ``labels`` unless empty) after the keyset position
    ``after`` = (raised_at, id), oldest first; an id of ``None`` means strictly after raised_at."""
    a = alerts.c
    at, alert_id = after
    later = a.raised_at > at
    if alert_id is not None:
        later = or_(later, and_(a.raised_at == at, a.id > alert_id))
    query = select(a.raised_at, a.alert).where(a.tenant == tenant, later)
    if labels:
        query = query.where(a.label.in_(sorted(set(labels))))
    query = query.order_by(a.raised_at, a.id).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(utc(at), events_pb2.Alert.FromString(blob)) for at, blob in rows]
