"""Query CRUD of ``ListeningService``: CreateQuery, GetQuery, ListQueries, UpdateQuery, DeleteQuery.

A mixin of :class:`~resonanz_listening.servicer.ListeningServicer`, which sets the attributes declared
below. Every method reads the tenant from metadata; another tenant's query ids answer NOT_FOUND.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc.aio
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from resonanz_sdk.network import Network
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening import convert
from resonanz_listening.models import QueryRow
from resonanz_listening.query_writes import update_query
from resonanz_listening.store import ListeningStore
from resonanz_listening.validation import validate_create, validate_update

Context = grpc.aio.ServicerContext[Any, Any]


class QueryHooks(Protocol):
    """What collection does when a query changes (:class:`~resonanz_listening.collection_rpc.CollectionApi`).

    Called after the change committed; idempotent, tenant scoped.
    """

    async def query_updated(self, tenant: str, query_id: str, *, reset_cursors: bool) -> None:
        """Clear a paused/backed-off collection state; ``reset_cursors``: the search changed."""

    async def query_deleted(self, tenant: str, query_id: str) -> None:
        """Release the query's leases, drop its collection state, cancel its backfills."""


log = logging.getLogger(__name__)


def query_id_of(value: str, field: str = "query_id") -> str:
    """``value`` when it is a non-empty id, else INVALID_ARGUMENT on ``field``."""
    v = Validator()
    v.non_empty(value, field)
    v.check()
    return value


class QueryRpcMixin:
    """The query methods; the composing servicer sets these attributes in its ``__init__``."""

    _store: ListeningStore
    _sessions: async_sessionmaker[Any]
    _networks: Mapping[str, Network]
    #: Told about updates and deletes after they committed (None: nothing else to tell).
    _query_hooks: QueryHooks | None

    async def CreateQuery(self, request: pb.CreateQueryRequest, context: Context) -> pb.CreateQueryResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        validate_create(request, self._networks)
        row = QueryRow(
            id=uuid.uuid4().hex,
            tenant=tenant,
            name=request.name.strip(),
            expression=request.expression,
            languages=list(request.languages),
            networks=list(request.networks),
            label=request.label.strip(),
            role=int(request.role),
            enabled=True,
            created_at=datetime.now(UTC),
        )
        await self._store.add_query(row)
        return pb.CreateQueryResponse(query=convert.query_to_proto(row))

    async def GetQuery(self, request: pb.GetQueryRequest, context: Context) -> pb.GetQueryResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        row = await self._store.get_query(tenant, query_id_of(request.query_id))
        return pb.GetQueryResponse(query=convert.query_to_proto(row))

    async def ListQueries(self, request: pb.ListQueriesRequest, context: Context) -> pb.ListQueriesResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size")
        raw = v.page_token(request.page_token, "page_token")
        if raw and not raw.isdigit():
            v.add("page_token", "invalid page token: pass a token this service returned unchanged")
        v.check()
        offset = int(raw or 0)
        rows, more = await self._store.list_queries(tenant, offset=offset, limit=size)
        return pb.ListQueriesResponse(
            queries=[convert.query_to_proto(r) for r in rows],
            next_page_token=page_token.encode(str(offset + len(rows))) if more else "",
        )

    async def UpdateQuery(self, request: pb.UpdateQueryRequest, context: Context) -> pb.UpdateQueryResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        changes = validate_update(request, self._networks)
        outcome = await update_query(self._sessions, tenant, request.query_id, changes)
        if outcome.cursors_reset:
            log.info("query %s: search terms or languages changed, its cursors were reset", request.query_id)
        if self._query_hooks is not None:
            await self._query_hooks.query_updated(
                tenant, request.query_id, reset_cursors=outcome.cursors_reset
            )
        return pb.UpdateQueryResponse(query=convert.query_to_proto(outcome.row))

    async def DeleteQuery(self, request: pb.DeleteQueryRequest, context: Context) -> pb.DeleteQueryResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        query_id = query_id_of(request.query_id)
        await self._store.delete_query(tenant, query_id)
        if self._query_hooks is not None:
            await self._query_hooks.query_deleted(tenant, query_id)
        return pb.DeleteQueryResponse()


__all__ = ["QueryHooks", "QueryRpcMixin", "query_id_of"]
