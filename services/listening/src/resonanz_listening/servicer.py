"""The gRPC ``resonanz.listening.v1.ListeningService``: queries, and the mentions they collected.

Every method reads the tenant from metadata and only ever sees that tenant's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc.aio
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceServicer
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from resonanz_sdk.network import Network
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening import convert
from resonanz_listening.query_rpc import QueryHooks, QueryRpcMixin
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore

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


class ListeningServicer(QueryRpcMixin, ListeningServiceServicer):
    """The whole service: query CRUD (:class:`QueryRpcMixin`), mention stream and search."""

    def __init__(
        self,
        store: ListeningStore,
        networks: Mapping[str, Network],
        signal: MentionSignal,
        *,
        sessions: async_sessionmaker[Any],
        poll_interval: float,
        query_hooks: QueryHooks | None = None,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._networks = networks
        self._signal = signal
        self._poll_interval = poll_interval
        self._query_hooks = query_hooks

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
