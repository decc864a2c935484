"""The composed ListeningServicer: every RPC of the proto is served (none falls back to the generated
UNIMPLEMENTED default), and query CRUD talks to collection: a delete releases the query's leases and
cancels its backfills, an update resumes a paused collection; tenant walls on the collection RPCs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from listening_helpers import ScriptedNetwork, eventually
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceServicer
from resonanz_listening.app import ListeningApp
from resonanz_listening.collection_models import LeaseRow
from resonanz_listening.servicer import ListeningServicer
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import PermanentNetworkError, RateLimitedError
from resonanz_sdk.grpc import tenant_metadata
from sqlalchemy import select

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")


def test_every_rpc_of_the_proto_is_implemented() -> None:
    methods = pb.DESCRIPTOR.services_by_name["ListeningService"].methods_by_name
    assert len(methods) == 13
    for name in methods:
        implementation = getattr(ListeningServicer, name)
        assert implementation is not getattr(ListeningServiceServicer, name), f"{name} is not implemented"


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


async def _leases(app: ListeningApp, query_id: str) -> list[str | None]:
    assert app._engine is not None
    async with session_factory(app._engine)() as session:
        return list(await session.scalars(select(LeaseRow.owner).where(LeaseRow.query_id == query_id)))


@pytest.mark.integration
async def test_delete_releases_leases_and_cancels_backfills(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork, app: ListeningApp
) -> None:
    # the network keeps answering 429, so the backfill cannot finish before the delete
    network.failures.extend(RateLimitedError("scripted", "slow down", retry_after=30) for _ in range(100))
    query = (
        await stub.CreateQuery(
            pb.CreateQueryRequest(name="a", expression="acme", label="acme"), metadata=ACME
        )
    ).query

    async def leased() -> bool:
        return bool(await _leases(app, query.id))

    await eventually(leased)
    now = datetime.now(UTC)
    call = stub.Backfill(
        pb.BackfillRequest(
            query_id=query.id, since=_ts(now - timedelta(days=2)), until=_ts(now - timedelta(days=1))
        ),
        metadata=ACME,
    )
    first = (await call.read()).backfill  # type: ignore[union-attr]
    call.cancel()
    assert first.state in (pb.BACKFILL_STATE_PENDING, pb.BACKFILL_STATE_RUNNING)

    await stub.DeleteQuery(pb.DeleteQueryRequest(query_id=query.id), metadata=ACME)

    got = (
        await stub.GetBackfill(pb.GetBackfillRequest(backfill_id=first.backfill_id), metadata=ACME)
    ).backfill
    assert got.state == pb.BACKFILL_STATE_CANCELLED
    assert await _leases(app, query.id) == []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=query.id), metadata=ACME)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.integration
async def test_update_resumes_a_paused_collection(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork
) -> None:
    network.failures.append(PermanentNetworkError("scripted", "query refused (HTTP 403)"))
    query = (
        await stub.CreateQuery(
            pb.CreateQueryRequest(name="a", expression="acme", label="acme"), metadata=ACME
        )
    ).query

    async def status() -> pb.CollectionState | None:
        states = (
            await stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=query.id), metadata=ACME)
        ).networks
        return states[0] if states else None

    async def paused() -> bool:
        state = await status()
        return state is not None and "403" in state.last_error

    await eventually(paused)
    searches = len(network.requests)

    # a fixed query (here: another label) resumes the paused pair; the network answers again
    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, label="acme corp"), metadata=ACME)
    network.post("acme is back")

    async def collected() -> bool:
        state = await status()
        return len(network.requests) > searches and state is not None and state.last_error == ""

    await eventually(collected)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=query.id), metadata=GLOBEX)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
