"""ListeningService over a real gRPC channel: query CRUD, validation, tenant walls (both databases)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from resonanz.common.v1.mention_pb2 import QueryRole
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_sdk.grpc import field_violations, tenant_metadata

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")


def create(expression: str = "acme", **fields: object) -> pb.CreateQueryRequest:
    values: dict[str, object] = {"name": "Acme", "expression": expression, "label": "Acme"}
    values.update(fields)
    return pb.CreateQueryRequest(**values)  # type: ignore[arg-type]


async def invalid(call: object) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return {v.field: v.description for v in field_violations(info.value)}


async def test_create_get_list_delete(stub: ListeningServiceAsyncStub) -> None:
    created = (
        await stub.CreateQuery(
            create(
                'acme AND ("new phone" OR #acmephone)',
                languages=["de", "en"],
                networks=["scripted"],
                role=QueryRole.QUERY_ROLE_BRAND,
            ),
            metadata=ACME,
        )
    ).query
    assert created.id
    assert created.tenant == "acme"
    assert created.enabled
    assert list(created.languages) == ["de", "en"]
    assert list(created.networks) == ["scripted"]
    assert created.role == QueryRole.QUERY_ROLE_BRAND
    assert created.created_at.seconds > 0

    got = (await stub.GetQuery(pb.GetQueryRequest(query_id=created.id), metadata=ACME)).query
    assert got == created

    for i in range(4):
        await stub.CreateQuery(create(f"term{i}", name=f"q{i}"), metadata=ACME)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListQueries(pb.ListQueriesRequest(page_size=2, page_token=token), metadata=ACME)
        seen.extend(q.id for q in page.queries)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert len(seen) == 5 == len(set(seen))
    assert seen[0] == created.id

    await stub.DeleteQuery(pb.DeleteQueryRequest(query_id=created.id), metadata=ACME)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetQuery(pb.GetQueryRequest(query_id=created.id), metadata=ACME)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.DeleteQuery(pb.DeleteQueryRequest(query_id=created.id), metadata=ACME)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_query_validation_names_fields_and_positions(stub: ListeningServiceAsyncStub) -> None:
    violations = await invalid(stub.CreateQuery(create("acme AND (bar) )"), metadata=ACME))
    assert violations == {"expression": "unexpected ')' at position 16"}

    violations = await invalid(
        stub.CreateQuery(
            create('"unclosed', name=" ", label="", languages=["de", "xx", "EN"], networks=["nope"], role=7),
            metadata=ACME,
        )
    )
    assert violations["expression"] == "unterminated quote at position 1"
    assert set(violations) == {
        "name",
        "label",
        "expression",
        "languages[1]",
        "languages[2]",
        "networks[0]",
        "role",
    }
    assert "nope" in violations["networks[0]"]
    assert "scripted" in violations["networks[0]"]

    # nothing was stored by the refused calls
    page = await stub.ListQueries(pb.ListQueriesRequest(), metadata=ACME)
    assert list(page.queries) == []

    await invalid(stub.ListQueries(pb.ListQueriesRequest(page_token="garbage"), metadata=ACME))
    await invalid(stub.StreamMentions(pb.StreamMentionsRequest(cursor="garbage"), metadata=ACME).read())


async def test_tenant_required_and_isolated(stub: ListeningServiceAsyncStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListQueries(pb.ListQueriesRequest())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

    mine = (await stub.CreateQuery(create(), metadata=ACME)).query
    assert list((await stub.ListQueries(pb.ListQueriesRequest(), metadata=GLOBEX)).queries) == []
    for call in (
        stub.GetQuery(pb.GetQueryRequest(query_id=mine.id), metadata=GLOBEX),
        stub.DeleteQuery(pb.DeleteQueryRequest(query_id=mine.id), metadata=GLOBEX),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # globex's delete attempt changed nothing
    assert (await stub.GetQuery(pb.GetQueryRequest(query_id=mine.id), metadata=ACME)).query == mine
