"""Applies a validated ``UpdateQuery`` to the stored query, and what it means for the search cursors.

A cursor is a position in one network's answer to one search request (terms + languages). So, in
the same transaction as the change:

* when the query's **search terms** change (:func:`~resonanz_listening.query.search_terms` of the new
  expression differs from the old one's) or its **languages** change, every cursor of the query is
  deleted: the next round searches the new request from the network's start;
* an expression change that keeps the same search terms (e.g. ``a b`` -> ``a NOT b``, or a different
  grouping) keeps the cursors: the network is asked the same thing, only the local match differs;
* when ``networks`` changes to a non-empty list, the cursors of networks no longer in it are deleted
  (a network added back later starts afresh); an empty list means every network and keeps them all;
* disabling keeps the cursors, so re-enabling continues where collection stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resonanz_sdk.errors import NotFoundError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.models import CursorRow, QueryRow
from resonanz_listening.query import parse, search_terms
from resonanz_listening.validation import QueryChanges


@dataclass(frozen=True)
class UpdateOutcome:
    row: QueryRow
    #: Every cursor of the query was deleted (search terms or languages changed).
    cursors_reset: bool
    #: Networks whose cursor was deleted because the query no longer covers them.
    networks_dropped: tuple[str, ...]


def _terms(expression: str) -> tuple[str, ...]:
    return search_terms(parse(expression))


async def update_query(
    sessions: async_sessionmaker[Any], tenant: str, query_id: str, changes: QueryChanges
) -> UpdateOutcome:
    """Change the tenant's query ``query_id``; raises NotFoundError when the tenant has no such query."""
    async with sessions() as session, session.begin():
        row: QueryRow | None = await session.scalar(
            select(QueryRow).where(QueryRow.tenant == tenant, QueryRow.id == query_id).with_for_update()
        )
        if row is None:
            raise NotFoundError(f"listening query {query_id!r} does not exist")
        reset = False
        if changes.expression is not None and changes.expression != row.expression:
            reset = _terms(changes.expression) != _terms(row.expression)
            row.expression = changes.expression
        if changes.languages is not None and list(changes.languages) != list(row.languages):
            reset = True
            row.languages = list(changes.languages)
        dropped: tuple[str, ...] = ()
        if changes.networks is not None and list(changes.networks) != list(row.networks):
            if changes.networks:
                stored = await session.scalars(select(CursorRow.network).where(CursorRow.query_id == row.id))
                dropped = tuple(sorted(set(stored) - set(changes.networks)))
            row.networks = list(changes.networks)
        if changes.name is not None:
            row.name = changes.name
        if changes.label is not None:
            row.label = changes.label
        if changes.role is not None:
            row.role = changes.role
        if changes.enabled is not None:
            row.enabled = changes.enabled
        if reset:
            await session.execute(delete(CursorRow).where(CursorRow.query_id == row.id))
        elif dropped:
            await session.execute(
                delete(CursorRow).where(CursorRow.query_id == row.id, CursorRow.network.in_(dropped))
            )
    return UpdateOutcome(row=row, cursors_reset=reset, networks_dropped=dropped if not reset else ())
