"""UpdateQuery over a real gRPC channel (both databases): mask semantics, validation, tenant walls,
disabling stops collection, and which changes reset the search cursors.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from listening_helpers import ScriptedNetwork, eventually
from resonanz.common.v1.mention_pb2 import ListeningQuery, QueryRole
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_listening.app import ListeningApp
from resonanz_listening.models import CursorRow
from resonanz_sdk.db import session_factory
from resonanz_sdk.grpc import field_violations, tenant_metadata
from sqlalchemy import select

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")


async def _create(
    stub: ListeningServiceAsyncStub, expression: str = "acme", **fields: object
) -> ListeningQuery:
    values: dict[str, object] = {"name": "Acme", "expression": expression, "label": "Acme"}
    values.update(fields)
    return (await stub.CreateQuery(pb.CreateQueryRequest(**values), metadata=ACME)).query  # type: ignore[arg-type]


async def _invalid(call: object) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return {v.field: v.description for v in field_violations(info.value)}


async def _cursors(app: ListeningApp, query_id: str) -> dict[str, str | None]:
    assert app._engine is not None
    async with session_factory(app._engine)() as session:
        rows = await session.execute(
            select(CursorRow.network, CursorRow.cursor).where(CursorRow.query_id == query_id)
        )
        return {row[0]: row[1] for row in rows}


async def test_update_with_mask_and_without(stub: ListeningServiceAsyncStub) -> None:
    query = await _create(stub, languages=["de"], networks=["scripted"])

    # empty mask: the non-default fields given change, the others stay
    updated = (
        await stub.UpdateQuery(
            pb.UpdateQueryRequest(
                query_id=query.id, name="  Acme DE  ", role=QueryRole.QUERY_ROLE_COMPETITOR
            ),
            metadata=ACME,
        )
    ).query
    assert updated.name == "Acme DE"
    assert updated.role == QueryRole.QUERY_ROLE_COMPETITOR
    assert updated.expression == "acme"
    assert list(updated.languages) == ["de"]
    assert updated.enabled
    assert updated.created_at == query.created_at

    # the mask lets defaults through: disable and clear the languages, nothing else
    masked = (
        await stub.UpdateQuery(
            pb.UpdateQueryRequest(
                query_id=query.id, name="ignored", enabled=False, update_mask=["enabled", "languages"]
            ),
            metadata=ACME,
        )
    ).query
    assert not masked.enabled
    assert list(masked.languages) == []
    assert masked.name == "Acme DE"

    got = (await stub.GetQuery(pb.GetQueryRequest(query_id=query.id), metadata=ACME)).query
    assert got == masked

    enabled = (
        await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, enabled=True), metadata=ACME)
    ).query
    assert enabled.enabled


async def test_update_validation_reports_everything(stub: ListeningServiceAsyncStub) -> None:
    query = await _create(stub)
    violations = await _invalid(
        stub.UpdateQuery(
            pb.UpdateQueryRequest(
                query_id=query.id,
                expression="acme AND (",
                languages=["xx", "de", "de"],
                networks=["nope"],
                role=9,  # type: ignore[arg-type]
                update_mask=["expression", "languages", "networks", "role", "name", "colour", "size"],
            ),
            metadata=ACME,
        )
    )
    assert set(violations) == {
        "update_mask",
        "expression",
        "languages[0]",
        "languages",
        "networks[0]",
        "role",
        "name",
    }
    assert "'colour'" in violations["update_mask"]
    assert "'size'" in violations["update_mask"]
    assert "position 11" in violations["expression"]
    assert violations["name"] == "must not be empty"

    violations = await _invalid(stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id), metadata=ACME))
    assert "nothing to change" in violations["update_mask"]
    violations = await _invalid(stub.UpdateQuery(pb.UpdateQueryRequest(name="x"), metadata=ACME))
    assert violations == {"query_id": "must not be empty"}

    # refused updates changed nothing
    assert (await stub.GetQuery(pb.GetQueryRequest(query_id=query.id), metadata=ACME)).query == query


async def test_update_is_tenant_scoped(stub: ListeningServiceAsyncStub) -> None:
    query = await _create(stub)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, name="stolen"), metadata=GLOBEX)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UpdateQuery(pb.UpdateQueryRequest(query_id="missing", name="x"), metadata=ACME)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetQuery(pb.GetQueryRequest(query_id=query.id), metadata=ACME)).query == query


async def test_disabling_stops_collection_and_enabling_resumes(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork, app: ListeningApp
) -> None:
    query = await _create(stub, "acme")
    network.post("acme one")
    await eventually(lambda: _has_cursor(app, query.id, "1"))

    await stub.UpdateQuery(
        pb.UpdateQueryRequest(query_id=query.id, enabled=False, update_mask=["enabled"]), metadata=ACME
    )
    # a round that began before the update may still finish: wait until the searches stop
    searched = len(network.requests)
    await eventually(lambda: _settled(network, searched))
    stopped_at = len(network.requests)
    network.post("acme two")
    await asyncio.sleep(0.5)  # five poll intervals pass without a search of the disabled query
    assert len(network.requests) == stopped_at

    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, enabled=True), metadata=ACME)
    await eventually(lambda: _has_cursor(app, query.id, "2"))
    # it continued from its cursor: the first search after enabling started after post 1
    assert network.requests[stopped_at].cursor == "1"


async def test_cursor_kept_when_terms_unchanged_reset_when_changed(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork, app: ListeningApp
) -> None:
    query = await _create(stub, "acme phone")
    for i in range(3):
        network.post(f"acme phone {i}")
    await eventually(lambda: _has_cursor(app, query.id, "3"))

    # same search terms (acme, phone), different local logic: the cursor stays
    await stub.UpdateQuery(
        pb.UpdateQueryRequest(query_id=query.id, expression="acme OR NOT (NOT phone)"), metadata=ACME
    )
    assert await _cursors(app, query.id) == {"scripted": "3"}

    # another network list that still holds the network: the cursor stays
    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, networks=["scripted"]), metadata=ACME)
    assert await _cursors(app, query.id) == {"scripted": "3"}

    # new search terms: the cursor is reset and the network searched from its start again
    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, expression="acme tablet"), metadata=ACME)
    cursors = await _cursors(app, query.id)
    assert cursors.get("scripted") in {None, "3"}  # reset (a round that started after it may be done)
    await eventually(lambda: _searched_from_start(network, ("acme", "tablet")))


async def test_language_change_resets_cursors(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork, app: ListeningApp
) -> None:
    query = await _create(stub, "acme", languages=["en"])
    network.post("acme")
    await eventually(lambda: _has_cursor(app, query.id, "1"))
    await stub.UpdateQuery(
        pb.UpdateQueryRequest(query_id=query.id, enabled=False, update_mask=["enabled"]), metadata=ACME
    )
    await eventually(lambda: _settled(network, len(network.requests)))
    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, languages=["en"]), metadata=ACME)
    assert await _cursors(app, query.id) == {"scripted": "1"}  # the same languages: nothing changed
    await stub.UpdateQuery(pb.UpdateQueryRequest(query_id=query.id, languages=["de"]), metadata=ACME)
    assert await _cursors(app, query.id) == {}


async def _has_cursor(app: ListeningApp, query_id: str, cursor: str) -> bool:
    return (await _cursors(app, query_id)).get("scripted") == cursor


async def _settled(network: ScriptedNetwork, before: int) -> bool:
    """True once no search came for a while after ``before`` searches (a round in flight finished)."""
    count = len(network.requests)
    await asyncio.sleep(0.3)
    return len(network.requests) == count and count >= before


async def _searched_from_start(network: ScriptedNetwork, terms: tuple[str, ...]) -> bool:
    return any(r.terms == terms and r.cursor is None for r in network.requests)
