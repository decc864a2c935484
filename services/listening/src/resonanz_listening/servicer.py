"""The gRPC ``resonanz.listening.v1.ListeningService``: queries, and the mentions they collected.

Every method reads the tenant from metadata and only ever sees that tenant's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import grpc.aio
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceServicer
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from resonanz_sdk.network import Network

from resonanz_listening import convert
from resonanz_listening.models import QueryRow
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore
from resonanz_listening.validation import validate_create

Context = grpc.aio.ServicerContext[Any, Any]

#: Rows a stream reads from the database at a time.
STREAM_BATCH = 200


def _seq_token(token: str, field: str) -> int | None:
    """The sequence number inside a cursor/page token (None for an empty one)."""
    raw = page_token.decode(token, field)
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError.single(field, "invalid token: pass a token this service returned unchanged")
    return int(raw)


def _query_id(value: str) -> str:
    v = Validator()
    v.non_empty(value, "query_id")
    v.check()
    return value


class ListeningServicer(ListeningServiceServicer):
    def __init__(
        self,
        store: ListeningStore,
        networks: Mapping[str, Network],
        signal: MentionSignal,
        *,
        poll_interval: float,
    ) -> None:
        self._store = store
        self._networks = networks
        self._signal = signal
        self._poll_interval = poll_interval

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
        row = await self._store.get_query(tenant, _query_id(request.query_id))
        return pb.GetQueryResponse(query=convert.query_to_proto(row))

    async def ListQueries(self, request: pb.ListQueriesRequest, context: Context) -> pb.ListQueriesResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size")
        v.check()
        raw = page_token.decode(request.page_token, "page_token")
        if raw and not raw.isdigit():
            raise ValidationError.single("page_token", "invalid page token")
        offset = int(raw or 0)
        rows, more = await self._store.list_queries(tenant, offset=offset, limit=size)
        return pb.ListQueriesResponse(
            queries=[convert.query_to_proto(r) for r in rows],
            next_page_token=page_token.encode(str(offset + len(rows))) if more else "",
        )

    async def DeleteQuery(self, request: pb.DeleteQueryRequest, context: Context) -> pb.DeleteQueryResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        await self._store.delete_query(tenant, _query_id(request.query_id))
        return pb.DeleteQueryResponse()

    async def StreamMentions(  # noqa: N802 - gRPC method name
        self, request: pb.StreamMentionsRequest, context: Context
    ) -> AsyncIterator[pb.StreamMentionsResponse]:
        tenant = tenant_of(context)
        after = _seq_token(request.cursor, "cursor") or 0
        since = convert.from_timestamp(request.since) if request.HasField("since") else None
        labels, networks = list(request.labels), list(request.networks)
        while not self._signal.closed:
            rows = await self._store.mentions_after(
                tenant, after_seq=after, labels=labels, networks=networks, since=since, limit=STREAM_BATCH
            )
            for row in rows:
                after = row.seq
                yield pb.StreamMentionsResponse(
                    mention=convert.mention_from_row(row), cursor=page_token.encode(str(row.seq))
                )
            if len(rows) < STREAM_BATCH:
                await self._signal.wait(self._poll_interval)

    async def SearchMentions(  # noqa: N802 - gRPC method name
        self, request: pb.SearchMentionsRequest, context: Context
    ) -> pb.SearchMentionsResponse:
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size")
        v.max_length(request.text, 500, "text")
        v.check()
        before = _seq_token(request.page_token, "page_token")
        rows, more = await self._store.search_mentions(
            tenant, text=request.text.strip(), labels=list(request.labels), before_seq=before, limit=size
        )
        return pb.SearchMentionsResponse(
            mentions=[convert.mention_from_row(r) for r in rows],
            next_page_token=page_token.encode(str(rows[-1].seq)) if more and rows else "",
        )
