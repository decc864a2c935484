"""gRPC methods of collection: GetQueryStatus and the Backfill family, as a mixin of the servicer.

``ListeningServicer`` inherits :class:`CollectionRpcMixin` and calls
:meth:`CollectionRpcMixin.init_collection_rpc` with a :class:`CollectionApi` in its ``__init__``.
Every method reads the tenant from the ``x-resonanz-tenant`` metadata; another tenant's query or
backfill ids answer NOT_FOUND.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import grpc.aio
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from resonanz_sdk.manifest import Feature
from resonanz_sdk.network import Network
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.backfill import Backfills, BackfillView
from resonanz_listening.collection_models import LeaseRow
from resonanz_listening.collection_state import CollectionStates, StatusEntry
from resonanz_listening.convert import timestamp
from resonanz_listening.models import CursorRow, QueryRow
from resonanz_listening.pairs import networks_for

Context = grpc.aio.ServicerContext[Any, Any]

#: Longest accepted ``request_id``.
MAX_REQUEST_ID = 200
#: Most backfills per ListBackfills page.
MAX_PAGE_SIZE = 500


class CollectionApi:
    """What the collection RPCs need: the database and the loaded networks.

    :param watch_interval: How often Backfill/WatchBackfill streams re-read a job's progress (the
        job may run on another replica, so progress is read from the database).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        networks: Mapping[str, Network],
        *,
        watch_interval: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.networks = networks
        self.backfills = Backfills(sessions)
        self.states = CollectionStates(sessions)
        self.watch_interval = watch_interval

    async def query(self, tenant: str, query_id: str) -> QueryRow:
        async with self.sessions() as session:
            row: QueryRow | None = await session.scalar(
                select(QueryRow).where(QueryRow.tenant == tenant, QueryRow.id == query_id)
            )
        if row is None:
            raise NotFoundError(f"listening query {query_id!r} does not exist")
        return row

    async def query_updated(self, tenant: str, query_id: str, *, reset_cursors: bool) -> None:
        """After UpdateQuery: resume paused/backed-off collection; drop the cursors if terms changed."""
        await self.states.resume(tenant, query_id)
        if reset_cursors:
            async with self.sessions() as session, session.begin():
                await session.execute(
                    delete(CursorRow).where(CursorRow.tenant == tenant, CursorRow.query_id == query_id)
                )

    async def query_deleted(self, tenant: str, query_id: str) -> None:
        """After DeleteQuery: forget its leases and state, cancel its pending and running backfills."""
        await self.backfills.cancel_for_query(tenant, query_id)
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(LeaseRow).where(LeaseRow.tenant == tenant, LeaseRow.query_id == query_id)
            )
            await self.states.forget(session, tenant, query_id)


def _state_proto(entry: StatusEntry, network: Network | None) -> pb.CollectionState:
    state = entry.state
    streams = network is not None and network.manifest.supports(Feature.STREAM)
    message = pb.CollectionState(
        network=entry.network,
        owner=entry.owner,
        mode=state.mode if state is not None else ("stream" if streams else "poll"),
    )
    if entry.lease_expires_at is not None:
        message.lease_expires_at.CopyFrom(timestamp(entry.lease_expires_at))
    if state is None:
        return message
    message.mentions_collected = state.mentions_collected
    if state.last_polled_at is not None:
        message.last_polled_at.CopyFrom(timestamp(state.last_polled_at))
    if state.backoff_until is not None and not state.paused:
        message.backoff_until.CopyFrom(timestamp(state.backoff_until))
    if state.paused:
        message.last_error = f"paused until the query is updated: {state.last_error}"
    else:
        message.last_error = state.last_error
    return message


def backfill_proto(view: BackfillView) -> pb.BackfillProgress:
    message = pb.BackfillProgress(
        backfill_id=view.id,
        query_id=view.query_id,
        state=view.state,  # type: ignore[arg-type]
        since=timestamp(view.since),
        until=timestamp(view.until),
        fraction_done=view.fraction,
        fetched=view.fetched,
        collected=view.collected,
        created_at=timestamp(view.created_at),
        error=view.error,
    )
    if view.finished_at is not None:
        message.finished_at.CopyFrom(timestamp(view.finished_at))
    for n in view.networks:
        message.networks.append(
            pb.BackfillNetworkProgress(
                network=n.network,
                state=n.state,  # type: ignore[arg-type]
                fetched=n.fetched,
                collected=n.collected,
                reached=timestamp(n.reached),
                fraction_done=n.fraction,
                error=n.error,
            )
        )
    return message


def _id(value: str, field: str) -> str:
    v = Validator()
    v.non_empty(value, field)
    v.max_length(value, 64, field)
    v.check()
    return value


class CollectionRpcMixin:
    """GetQueryStatus, Backfill, GetBackfill, ListBackfills, WatchBackfill, CancelBackfill."""

    _collection_api: CollectionApi

    def init_collection_rpc(self, api: CollectionApi) -> None:
        self._collection_api = api

    async def GetQueryStatus(  # noqa: N802 - gRPC method name
        self, request: pb.GetQueryStatusRequest, context: Context
    ) -> pb.GetQueryStatusResponse:
        tenant = tenant_of(context)
        api = self._collection_api
        query = await api.query(tenant, _id(request.query_id, "query_id"))
        entries = await api.states.status(tenant, query.id, networks_for(query, api.networks))
        return pb.GetQueryStatusResponse(
            networks=[_state_proto(e, api.networks.get(e.network)) for e in entries]
        )

    async def Backfill(  # noqa: N802 - gRPC method name
        self, request: pb.BackfillRequest, context: Context
    ) -> AsyncIterator[pb.BackfillResponse]:
        tenant = tenant_of(context)
        api = self._collection_api
        now = datetime.now(UTC)
        v = Validator()
        v.non_empty(request.query_id, "query_id")
        v.max_length(request.query_id, 64, "query_id")
        v.max_length(request.request_id, MAX_REQUEST_ID, "request_id")
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        until = request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else now
        until = min(until, now)
        if v.require(since is not None, "since", "must be set"):
            assert since is not None
            v.require(since < until, "since", "must be before until (and before now)")
        for i, name in enumerate(request.networks):
            network = api.networks.get(name)
            v.require(
                network is not None and network.manifest.supports(Feature.SEARCH),
                f"networks[{i}]",
                f"{name!r} is not a loaded network that supports search",
            )
        v.check()
        assert since is not None
        query = await api.query(tenant, request.query_id)
        networks = list(dict.fromkeys(request.networks)) or networks_for(query, api.networks)
        if not networks:
            v.add("networks", "the query covers no loaded network that supports search")
            v.check()
        view, _ = await api.backfills.create(
            tenant,
            query.id,
            since=since,
            until=until,
            networks=networks,
            request_id=request.request_id or None,
        )
        async for progress in self._follow(tenant, view):
            yield pb.BackfillResponse(backfill=progress)

    async def GetBackfill(  # noqa: N802 - gRPC method name
        self, request: pb.GetBackfillRequest, context: Context
    ) -> pb.GetBackfillResponse:
        tenant = tenant_of(context)
        view = await self._collection_api.backfills.get(tenant, _id(request.backfill_id, "backfill_id"))
        return pb.GetBackfillResponse(backfill=backfill_proto(view))

    async def ListBackfills(  # noqa: N802 - gRPC method name
        self, request: pb.ListBackfillsRequest, context: Context
    ) -> pb.ListBackfillsResponse:
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size", MAX_PAGE_SIZE)
        position = v.page_token(request.page_token, "page_token")
        v.max_length(request.query_id, 64, "query_id")
        if position and not position.isdigit():
            v.add(
                "page_token",
                "invalid page token: pass the next_page_token of the previous response unchanged",
            )
        v.check()
        offset = int(position or 0)
        views, more = await self._collection_api.backfills.list(
            tenant, query_id=request.query_id, offset=offset, limit=size
        )
        return pb.ListBackfillsResponse(
            backfills=[backfill_proto(view) for view in views],
            next_page_token=page_token.encode(str(offset + size)) if more else "",
        )

    async def WatchBackfill(  # noqa: N802 - gRPC method name
        self, request: pb.WatchBackfillRequest, context: Context
    ) -> AsyncIterator[pb.WatchBackfillResponse]:
        tenant = tenant_of(context)
        view = await self._collection_api.backfills.get(tenant, _id(request.backfill_id, "backfill_id"))
        async for progress in self._follow(tenant, view):
            yield pb.WatchBackfillResponse(backfill=progress)

    async def CancelBackfill(  # noqa: N802 - gRPC method name
        self, request: pb.CancelBackfillRequest, context: Context
    ) -> pb.CancelBackfillResponse:
        tenant = tenant_of(context)
        view = await self._collection_api.backfills.cancel(tenant, _id(request.backfill_id, "backfill_id"))
        return pb.CancelBackfillResponse(backfill=backfill_proto(view))

    async def _follow(self, tenant: str, view: BackfillView) -> AsyncIterator[pb.BackfillProgress]:
        """The job's progress now, then each change, until it has ended."""
        api = self._collection_api
        last = backfill_proto(view)
        yield last
        while not view.done:
            await asyncio.sleep(api.watch_interval)
            view = await api.backfills.get(tenant, view.id)
            current = backfill_proto(view)
            if current != last:
                last = current
                yield current
