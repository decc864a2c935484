"""WorkspaceService campaigns over a real gRPC server, on SQLite and PostgreSQL; slugs and UTM defaults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1.content_pb2 import Campaign, UtmParameters
from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz.publishing.v1 import workspace_service_pb2_grpc as wpb_grpc
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_publishing.access import AccessControl
from resonanz_publishing.campaigns import CampaignStore, slug, utm_defaults
from resonanz_publishing.models import AuditEventRow, Base, CampaignRow
from resonanz_publishing.workspace import MemberStore, PolicyStore
from resonanz_publishing.workspace_servicer import WorkspaceServicer
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.grpc import GrpcServer, call_metadata, field_violations
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class Campaigns:
    stub: wpb_grpc.WorkspaceServiceAsyncStub
    engine: AsyncEngine
    store: CampaignStore

    async def create(self, tenant: str = "acme", actor: str = "", **fields: object) -> Campaign:
        fields.setdefault("name", "Sommer Sale")
        request = wpb.CreateCampaignRequest(**fields)  # type: ignore[arg-type]
        return (await self.stub.CreateCampaign(request, metadata=call_metadata(tenant, actor))).campaign

    async def count(self, model: type[CampaignRow] | type[AuditEventRow], tenant: str = "acme") -> int:
        async with session_factory(self.engine)() as session:
            stmt = select(func.count()).select_from(model).where(model.tenant == tenant)
            return int((await session.execute(stmt)).scalar_one())


@pytest.fixture
async def campaigns(database_url: str) -> AsyncIterator[Campaigns]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    store = CampaignStore(engine)
    servicer = WorkspaceServicer(PolicyStore(engine), MemberStore(engine), store, AccessControl(engine))
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        name="campaign-tests",
        services=[wpb.DESCRIPTOR.services_by_name["WorkspaceService"].full_name],
        register=lambda s: wpb_grpc.add_WorkspaceServiceServicer_to_server(servicer, s),
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Campaigns(wpb_grpc.WorkspaceServiceStub(channel), engine, store)
    finally:
        await server.stop(0)
        await engine.dispose()


def ts(value: str) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(datetime.fromisoformat(value))
    return out


async def invalid_fields(campaigns: Campaigns, **fields: object) -> set[str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await campaigns.create("acme", "", **fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return {v.field for v in field_violations(info.value)}


async def test_create_and_get_a_campaign(campaigns: Campaigns) -> None:
    created = await campaigns.create(
        name="Sommer Sale",
        description="Alles muss raus",
        hashtags=["#Sommer", "sale", "#sale"],
        links=["https://shop.example/sommer?x=1", "http://example.com"],
        starts_at=ts("2025-06-01T00:00:00+02:00"),
        ends_at=ts("2025-06-30T23:59:00+02:00"),
        utm=UtmParameters(source="resonanz", medium="social"),
    )
    assert len(created.id) == 32
    assert created.tenant == "acme"
    assert list(created.hashtags) == ["Sommer", "sale"]  # stored without '#', duplicates dropped
    assert list(created.links) == ["https://shop.example/sommer?x=1", "http://example.com"]
    assert created.starts_at.ToDatetime(tzinfo=UTC) == datetime(2025, 5, 31, 22, 0, tzinfo=UTC)
    assert created.ends_at.ToDatetime(tzinfo=UTC) == datetime(2025, 6, 30, 21, 59, tzinfo=UTC)
    assert created.utm == UtmParameters(source="resonanz", medium="social")
    assert created.created_at.seconds > 0

    got = await campaigns.stub.GetCampaign(
        wpb.GetCampaignRequest(campaign_id=created.id), metadata=call_metadata("acme")
    )
    assert got.campaign == created

    # Without dates the campaign has none.
    plain = await campaigns.create(name="Plain")
    assert not plain.HasField("starts_at")
    assert not plain.HasField("ends_at")


async def test_create_is_idempotent_on_the_key_also_when_creates_race(campaigns: Campaigns) -> None:
    first = await campaigns.create(name="Launch", idempotency_key="launch-1")
    again = await campaigns.create(name="Launch changed", idempotency_key="launch-1")
    assert again == first

    raced = await asyncio.gather(*(campaigns.create(name="Race", idempotency_key="race-1") for _ in range(8)))
    assert len({c.id for c in raced}) == 1
    # Two campaigns, two audit events: the losers of the race wrote nothing.
    assert await campaigns.count(CampaignRow) == 2
    assert await campaigns.count(AuditEventRow) == 2

    # Without a key every create is a new campaign; a key is per tenant.
    a, b = await campaigns.create(name="X"), await campaigns.create(name="X")
    assert a.id != b.id
    other = await campaigns.create(tenant="globex", name="Launch", idempotency_key="launch-1")
    assert other.id != first.id
    assert other.tenant == "globex"


async def test_the_store_reports_whether_it_created(campaigns: Campaigns) -> None:
    request = wpb.CreateCampaignRequest(name="Herbst", idempotency_key="k")
    row, created = await campaigns.store.create("acme", request, "ann")
    assert created
    again, created_again = await campaigns.store.create("acme", request, "ann")
    assert (again.id, created_again) == (row.id, False)
    assert (await campaigns.store.find("acme", row.id)) is not None
    assert (await campaigns.store.find("globex", row.id)) is None
    async with session_factory(campaigns.engine).begin() as session:
        inside = await campaigns.store.find_in(session, "acme", row.id)
        assert inside is not None
        assert inside.name == "Herbst"
        assert await campaigns.store.find_in(session, "globex", row.id) is None


async def test_validation_names_each_field(campaigns: Campaigns) -> None:
    assert await invalid_fields(campaigns, name="") == {"name"}
    assert await invalid_fields(campaigns, name="   ") == {"name"}
    assert await invalid_fields(campaigns, name="x" * 201) == {"name"}
    assert await invalid_fields(campaigns, description="x" * 5001) == {"description"}
    assert await invalid_fields(campaigns, hashtags=["ok", "#fine", "two words"]) == {"hashtags[2]"}
    assert await invalid_fields(campaigns, hashtags=["a", "b", "#"]) == {"hashtags[2]"}
    assert await invalid_fields(campaigns, hashtags=["a", "b", "#" + "x" * 101]) == {"hashtags[2]"}
    assert await invalid_fields(campaigns, hashtags=[f"t{i}" for i in range(31)]) == {"hashtags"}
    assert await invalid_fields(campaigns, links=["ftp://example.com"]) == {"links[0]"}
    assert await invalid_fields(campaigns, links=["https://"]) == {"links[0]"}
    assert await invalid_fields(campaigns, links=["https://ex ample.com"]) == {"links[0]"}
    assert await invalid_fields(campaigns, links=["https://example.com/" + "x" * 2000]) == {"links[0]"}
    assert await invalid_fields(campaigns, links=[f"https://e.example/{i}" for i in range(21)]) == {"links"}
    assert await invalid_fields(
        campaigns, starts_at=ts("2025-06-02T00:00:00+00:00"), ends_at=ts("2025-06-01T00:00:00+00:00")
    ) == {"ends_at"}
    assert await invalid_fields(
        campaigns, starts_at=ts("2025-06-01T00:00:00+00:00"), ends_at=ts("2025-06-01T00:00:00+00:00")
    ) == {"ends_at"}
    assert await invalid_fields(campaigns, utm=UtmParameters(source="x" * 201, term="y" * 201)) == {
        "utm.source",
        "utm.term",
    }
    assert await invalid_fields(campaigns, idempotency_key="k" * 201) == {"idempotency_key"}
    assert await invalid_fields(campaigns, name="", links=["nope"]) == {"name", "links[0]"}
    # Nothing was stored.
    assert await campaigns.count(CampaignRow) == 0

    # The limits themselves are fine; hashtags may be any letters.
    ok = await campaigns.create(
        name="x" * 200,
        hashtags=["#" + "y" * 100, "Frühling", "sale_2025"],
        links=["https://example.com/" + "x" * 1980],
        starts_at=ts("2025-06-01T00:00:00+00:00"),
    )
    assert list(ok.hashtags) == ["y" * 100, "Frühling", "sale_2025"]


async def test_get_and_list_check_their_arguments(campaigns: Campaigns) -> None:
    md = call_metadata("acme")
    for campaign_id in ("", "x" * 65):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await campaigns.stub.GetCampaign(wpb.GetCampaignRequest(campaign_id=campaign_id), metadata=md)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(info.value)} == {"campaign_id"}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await campaigns.stub.GetCampaign(wpb.GetCampaignRequest(campaign_id="nope"), metadata=md)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    for request in (wpb.ListCampaignsRequest(page_size=-1), wpb.ListCampaignsRequest(page_token="garbage")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await campaigns.stub.ListCampaigns(request, metadata=md)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(info.value)} <= {"page_size", "page_token"}
        assert field_violations(info.value)


async def test_list_pages_newest_first(campaigns: Campaigns) -> None:
    created = [(await campaigns.create(name=f"C{i}")).id for i in range(7)]
    await campaigns.create(tenant="globex", name="Other")
    seen: list[str] = []
    sizes: list[int] = []
    token = ""
    while True:
        page = await campaigns.stub.ListCampaigns(
            wpb.ListCampaignsRequest(page_size=3, page_token=token), metadata=call_metadata("acme")
        )
        sizes.append(len(page.campaigns))
        seen.extend(c.id for c in page.campaigns)
        token = page.next_page_token
        if not token:
            break
    assert sizes == [3, 3, 1]
    assert seen == list(reversed(created))

    everything = await campaigns.stub.ListCampaigns(
        wpb.ListCampaignsRequest(), metadata=call_metadata("acme")
    )
    assert [c.id for c in everything.campaigns] == list(reversed(created))
    assert everything.next_page_token == ""


async def test_tenants_never_see_each_others_campaigns(campaigns: Campaigns) -> None:
    mine = await campaigns.create(name="Mine")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await campaigns.stub.GetCampaign(
            wpb.GetCampaignRequest(campaign_id=mine.id), metadata=call_metadata("globex")
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    page = await campaigns.stub.ListCampaigns(wpb.ListCampaignsRequest(), metadata=call_metadata("globex"))
    assert list(page.campaigns) == []


async def test_creating_needs_the_edit_permission_once_the_workspace_has_members(
    campaigns: Campaigns,
) -> None:
    md = call_metadata("acme")
    await campaigns.stub.SetMemberRole(
        wpb.SetMemberRoleRequest(user="ann", role=Role.ROLE_ADMIN), metadata=md
    )
    await campaigns.stub.SetMemberRole(
        wpb.SetMemberRoleRequest(user="ed", role=Role.ROLE_EDITOR), metadata=call_metadata("acme", "ann")
    )
    for actor in ("", "stranger"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await campaigns.create(actor=actor, name="Nope")
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    made = await campaigns.create(actor="ed", name="Yes")
    assert made.name == "Yes"
    # The audit log says who created it.
    async with session_factory(campaigns.engine)() as session:
        events = list(
            (
                await session.execute(select(AuditEventRow).where(AuditEventRow.action == "campaign.created"))
            ).scalars()
        )
    assert [(e.tenant, e.actor) for e in events] == [("acme", "ed")]
    assert made.id in events[0].detail


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sommer Sale 2025", "sommer-sale-2025"),
        ("  Black   Friday!! ", "black-friday"),
        ("Frühling & Straße", "fruhling-strasse"),
        ("already-a_slug", "already-a_slug"),
        ("A - B", "a-b"),
        ("🎉", ""),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_utm_defaults_fill_the_campaign_from_the_name() -> None:
    row = CampaignRow(id="c1", tenant="acme", name="Sommer Sale", utm={"source": "resonanz"})
    assert utm_defaults(row) == UtmParameters(source="resonanz", campaign="sommer-sale")
    row = CampaignRow(
        id="c1", tenant="acme", name="Sommer Sale", utm={"campaign": "summer25", "medium": "social"}
    )
    assert utm_defaults(row) == UtmParameters(campaign="summer25", medium="social")
    row = CampaignRow(id="c2", tenant="acme", name="🎉", utm={})
    assert utm_defaults(row) == UtmParameters(campaign="c2")
