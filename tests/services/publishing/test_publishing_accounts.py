"""Connected accounts: the store over real SQLite and PostgreSQL, and AccountService over real gRPC."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
from publishing_helpers import TestNetwork, plugin_manager
from resonanz.common.v1.content_pb2 import AccountStatus
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc as apb_grpc
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_publishing.access import AccessControl
from resonanz_publishing.account_servicer import AccountServicer
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.convert import now_utc
from resonanz_publishing.credentials import CredentialCipher, CredentialsUnreadableError
from resonanz_publishing.models import AccountRow, AuditEventRow, Base, MemberRow
from resonanz_publishing.queues import QueueStore
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import FailedPreconditionError, NotFoundError
from resonanz_sdk.grpc import GrpcServer, call_metadata, field_violations
from resonanz_sdk.network import Credentials
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

SECRET = "tok-9f8e7d6c5b4a-very-secret"
REFRESH = "refresh-0a1b2c3d-also-secret"
CONNECTED = AccountStatus.ACCOUNT_STATUS_CONNECTED
NEEDS_REAUTH = AccountStatus.ACCOUNT_STATUS_NEEDS_REAUTH
DISCONNECTED = AccountStatus.ACCOUNT_STATUS_DISCONNECTED


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def key() -> str:
    return CredentialCipher.generate_key()


@pytest.fixture
def store(engine: AsyncEngine, key: str) -> AccountStore:
    return AccountStore(engine, CredentialCipher([key]))


async def stored_token(engine: AsyncEngine, tenant: str, handle: str) -> bytes | None:
    async with session_factory(engine)() as session:
        token: bytes | None = (
            await session.execute(
                select(AccountRow.credentials).where(AccountRow.tenant == tenant, AccountRow.handle == handle)
            )
        ).scalar_one()
        return token


async def audit_actions(engine: AsyncEngine, tenant: str) -> list[tuple[str, str]]:
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(AuditEventRow.action, AuditEventRow.detail)
                .where(AuditEventRow.tenant == tenant)
                .order_by(AuditEventRow.id)
            )
        ).all()
        return [(a, d) for a, d in rows]


# -- the store --------------------------------------------------------------------------------------


async def test_connect_stores_ciphertext_not_the_plaintext(store: AccountStore, engine: AsyncEngine) -> None:
    row = await store.connect(
        "acme", "testnet", "@acme", "Acme", {"token": SECRET, "refresh_token": REFRESH}, "alice"
    )
    assert row.status == CONNECTED
    assert row.credential_fields == ["refresh_token", "token"]
    token = await stored_token(engine, "acme", "@acme")
    assert token is not None
    assert SECRET.encode() not in token
    assert REFRESH.encode() not in token
    creds = await store.credentials_for("acme", "testnet", "@acme")
    assert creds.values == {"token": SECRET, "refresh_token": REFRESH}
    assert SECRET not in repr(creds)
    actions = await audit_actions(engine, "acme")
    assert [a for a, _ in actions] == ["account.connected"]
    assert all(SECRET not in d and REFRESH not in d for _, d in actions)


async def test_reconnect_keeps_the_account_and_replaces_its_credentials(store: AccountStore) -> None:
    first = await store.connect("acme", "testnet", "@acme", "Acme", {"token": "one"}, "alice")
    await store.disconnect("acme", "testnet", "@acme", "alice")
    again = await store.connect("acme", "testnet", "@acme", "", {"token": "two", "extra": "x"}, "bob")
    assert again.id == first.id
    assert again.display_name == "Acme"
    assert again.status == CONNECTED
    assert again.credential_fields == ["extra", "token"]
    assert (await store.credentials_for("acme", "testnet", "@acme")).values == {"token": "two", "extra": "x"}
    assert [a.id for a in await store.list_accounts("acme")] == [first.id]


async def test_disconnect_forgets_credentials(store: AccountStore, engine: AsyncEngine) -> None:
    await store.connect("acme", "testnet", "@acme", "", {"token": SECRET}, "alice")
    row = await store.disconnect("acme", "testnet", "@acme", "alice")
    assert row.status == DISCONNECTED
    assert await stored_token(engine, "acme", "@acme") is None
    with pytest.raises(FailedPreconditionError, match="disconnected"):
        await store.credentials_for("acme", "testnet", "@acme")
    with pytest.raises(FailedPreconditionError):
        await store.store_refreshed("acme", "testnet", "@acme", Credentials({"token": "new"}))
    assert [a for a, _ in await audit_actions(engine, "acme")] == [
        "account.connected",
        "account.disconnected",
    ]


async def test_tenants_are_separate_and_missing_accounts_are_not_found(store: AccountStore) -> None:
    await store.connect("acme", "testnet", "@acme", "", {"token": SECRET}, "alice")
    assert await store.find("other", "testnet", "@acme") is None
    for call in (
        store.get("other", "testnet", "@acme"),
        store.credentials_for("other", "testnet", "@acme"),
        store.disconnect("other", "testnet", "@acme", "x"),
        store.update_credentials("other", "testnet", "@acme", {"token": "t"}, "x"),
        store.mark_needs_reauth("other", "testnet", "@acme", "why"),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert await store.list_accounts("other") == []
    assert await store.usable_accounts("other", [("testnet", "@acme")]) == {}


async def test_needs_reauth_then_refresh_and_usable_accounts(
    store: AccountStore, engine: AsyncEngine
) -> None:
    await store.connect("acme", "testnet", "@a", "", {"token": "a"}, "alice")
    await store.connect("acme", "testnet", "@b", "", {"token": "b"}, "alice")
    await store.connect("acme", "othernet", "@a", "", {"token": "c"}, "alice")
    await store.disconnect("acme", "othernet", "@a", "alice")
    row = await store.mark_needs_reauth("acme", "testnet", "@b", "token revoked by the user")
    assert (row.status, row.status_reason) == (NEEDS_REAUTH, "token revoked by the user")

    usable = await store.usable_accounts(
        "acme",
        [("testnet", "@a"), ("testnet", "@b"), ("othernet", "@a"), ("othernet", "@b"), ("nonet", "@a")],
    )
    assert usable == {
        ("testnet", "@a"): CONNECTED,
        ("testnet", "@b"): NEEDS_REAUTH,
        ("othernet", "@a"): DISCONNECTED,
    }

    refreshed = await store.store_refreshed("acme", "testnet", "@b", Credentials({"token": "fresh"}))
    assert (refreshed.status, refreshed.status_reason) == (CONNECTED, "")
    assert (await store.credentials_for("acme", "testnet", "@b")).values == {"token": "fresh"}
    assert [a.handle for a in await store.list_accounts("acme", "testnet")] == ["@a", "@b"]
    assert len(await store.list_accounts("acme")) == 3
    actions = [a for a, _ in await audit_actions(engine, "acme")]
    assert "account.needs_reauth" in actions
    assert "account.credentials_refreshed" in actions


async def test_rotation_with_a_new_primary_key_keeps_every_account_readable(
    engine: AsyncEngine, key: str
) -> None:
    old = AccountStore(engine, CredentialCipher([key]))
    for tenant in ("acme", "globex"):
        for i in range(3):
            await old.connect(
                tenant, "testnet", f"@{tenant}{i}", "", {"token": f"{SECRET}-{tenant}-{i}"}, "alice"
            )
    await old.connect("acme", "testnet", "@gone", "", {"token": "x"}, "alice")
    await old.disconnect("acme", "testnet", "@gone", "alice")
    before = await stored_token(engine, "acme", "@acme0")

    new_key = CredentialCipher.generate_key()
    ring = AccountStore(engine, CredentialCipher([new_key, key]))
    assert (await ring.credentials_for("acme", "testnet", "@acme1")).values == {"token": f"{SECRET}-acme-1"}
    assert await ring.rotate_all() == 6
    assert await stored_token(engine, "acme", "@acme0") != before

    only_new = AccountStore(engine, CredentialCipher([new_key]))
    for tenant in ("acme", "globex"):
        for i in range(3):
            creds = await only_new.credentials_for(tenant, "testnet", f"@{tenant}{i}")
            assert creds.values == {"token": f"{SECRET}-{tenant}-{i}"}
    with pytest.raises(CredentialsUnreadableError):
        await AccountStore(engine, CredentialCipher([key])).credentials_for("acme", "testnet", "@acme0")
    for tenant in ("acme", "globex"):
        rotations = [d for a, d in await audit_actions(engine, tenant) if a == "credentials.rotated"]
        assert len(rotations) == 1
        assert rotations[0].startswith("3 ")


async def test_rotation_reports_tokens_no_key_opens(engine: AsyncEngine, key: str) -> None:
    await AccountStore(engine, CredentialCipher([key])).connect(
        "acme", "testnet", "@old", "", {"t": SECRET}, "a"
    )
    other = AccountStore(engine, CredentialCipher([CredentialCipher.generate_key()]))
    await other.connect("acme", "testnet", "@new", "", {"t": "x"}, "a")
    with pytest.raises(CredentialsUnreadableError) as caught:
        await other.rotate_all()
    assert "acme/testnet/@old" in str(caught.value)
    assert "1 were rotated" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- over gRPC ----------------------------------------------------------------------------------------


@dataclass
class Api:
    stub: apb_grpc.AccountServiceAsyncStub
    engine: AsyncEngine
    store: AccountStore


@pytest.fixture
async def api(engine: AsyncEngine, key: str) -> AsyncIterator[Api]:
    store = AccountStore(engine, CredentialCipher([key]))
    servicer = AccountServicer(
        store,
        QueueStore(engine),
        plugin_manager(TestNetwork(), TestNetwork("othernet")),
        AccessControl(engine),
    )
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[apb.DESCRIPTOR.services_by_name["AccountService"].full_name],
        register=lambda s: apb_grpc.add_AccountServiceServicer_to_server(servicer, s),
        name="accounts-test",
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(apb_grpc.AccountServiceStub(channel), engine, store)
    finally:
        await server.stop(0)


def ref(handle: str = "@acme", network: str = "testnet") -> apb.AccountRef:
    return apb.AccountRef(network=network, handle=handle)


async def add_member(engine: AsyncEngine, tenant: str, user: str, role: int) -> None:
    async with session_factory(engine).begin() as session:
        session.add(MemberRow(tenant=tenant, user=user, role=role, added_at=now_utc()))


async def test_accounts_over_grpc_never_return_secrets(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    md = call_metadata("acme", "alice")
    responses: list[bytes] = []
    connected = await api.stub.ConnectAccount(
        apb.ConnectAccountRequest(
            account=ref(), display_name="Acme", credentials={"token": SECRET, "refresh_token": REFRESH}
        ),
        metadata=md,
    )
    responses.append(connected.SerializeToString())
    account = connected.account
    assert (account.network, account.handle, account.display_name) == ("testnet", "@acme", "Acme")
    assert list(account.credential_fields) == ["refresh_token", "token"]
    assert account.status == CONNECTED
    assert account.tenant == "acme"
    assert account.id

    got = await api.stub.GetAccount(apb.GetAccountRequest(account=ref()), metadata=md)
    assert got.account == account
    responses.append(got.SerializeToString())
    listed = await api.stub.ListAccounts(apb.ListAccountsRequest(), metadata=md)
    assert [a.handle for a in listed.accounts] == ["@acme"]
    responses.append(listed.SerializeToString())
    assert (
        list((await api.stub.ListAccounts(apb.ListAccountsRequest(network="othernet"), metadata=md)).accounts)
        == []
    )

    updated = await api.stub.UpdateCredentials(
        apb.UpdateCredentialsRequest(account=ref(), credentials={"token": SECRET + "2"}), metadata=md
    )
    assert list(updated.account.credential_fields) == ["token"]
    responses.append(updated.SerializeToString())
    assert (await api.store.credentials_for("acme", "testnet", "@acme")).values == {"token": SECRET + "2"}

    gone = await api.stub.DisconnectAccount(apb.DisconnectAccountRequest(account=ref()), metadata=md)
    assert gone.account.status == DISCONNECTED
    responses.append(gone.SerializeToString())
    rotated = await api.stub.RotateCredentialKeys(apb.RotateCredentialKeysRequest(), metadata=md)
    assert rotated.rotated == 0

    for raw in responses:
        assert SECRET.encode() not in raw
        assert REFRESH.encode() not in raw
    assert SECRET not in caplog.text
    assert REFRESH not in caplog.text


async def test_another_tenants_account_is_not_found(api: Api) -> None:
    await api.store.connect("acme", "testnet", "@acme", "", {"token": SECRET}, "alice")
    for call in (
        api.stub.GetAccount(apb.GetAccountRequest(account=ref()), metadata=call_metadata("globex")),
        api.stub.DisconnectAccount(
            apb.DisconnectAccountRequest(account=ref()), metadata=call_metadata("globex")
        ),
        api.stub.UpdateCredentials(
            apb.UpdateCredentialsRequest(account=ref(), credentials={"token": "x"}),
            metadata=call_metadata("globex"),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await api.store.get("acme", "testnet", "@acme")).status == CONNECTED


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (apb.ConnectAccountRequest(account=ref(), credentials={}), {"credentials"}),
        (
            apb.ConnectAccountRequest(account=ref("", ""), credentials={"t": "x"}),
            {"account.network", "account.handle"},
        ),
        (
            apb.ConnectAccountRequest(account=ref(network="nonet"), credentials={"t": "x"}),
            {"account.network"},
        ),
        (apb.ConnectAccountRequest(account=ref("@" * 201), credentials={"t": "x"}), {"account.handle"}),
        (apb.ConnectAccountRequest(account=ref(), credentials={"": "x"}), {'credentials[""]'}),
        (
            apb.ConnectAccountRequest(account=ref(), credentials={"k" * 101: "x"}),
            {f'credentials["{"k" * 100}..."]'},
        ),
        (apb.ConnectAccountRequest(account=ref(), credentials={"tok": "v" * 10_001}), {'credentials["tok"]'}),
        (
            apb.ConnectAccountRequest(account=ref(), credentials={f"k{i}": "v" for i in range(51)}),
            {"credentials"},
        ),
        (
            apb.ConnectAccountRequest(account=ref(), display_name="d" * 201, credentials={"t": "x"}),
            {"display_name"},
        ),
    ],
)
async def test_connect_validation_names_the_field(
    api: Api, request_: apb.ConnectAccountRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.stub.ConnectAccount(request_, metadata=call_metadata("acme"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == fields
    assert "v" * 100 not in (caught.value.details() or "")
    assert await api.store.list_accounts("acme") == []


async def test_an_editor_may_connect_but_not_rotate_keys(api: Api) -> None:
    await add_member(api.engine, "acme", "admin1", Role.ROLE_ADMIN)
    await add_member(api.engine, "acme", "ed", Role.ROLE_EDITOR)
    editor = call_metadata("acme", "ed")
    await api.stub.ConnectAccount(
        apb.ConnectAccountRequest(account=ref(), credentials={"t": SECRET}), metadata=editor
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.stub.RotateCredentialKeys(apb.RotateCredentialKeysRequest(), metadata=editor)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin" in (caught.value.details() or "")
    for who in (call_metadata("acme"), call_metadata("acme", "stranger")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await api.stub.ConnectAccount(
                apb.ConnectAccountRequest(account=ref("@x"), credentials={"t": "x"}), metadata=who
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Reads need only the tenant.
    assert (
        len((await api.stub.ListAccounts(apb.ListAccountsRequest(), metadata=call_metadata("acme"))).accounts)
        == 1
    )

    rotated = await api.stub.RotateCredentialKeys(
        apb.RotateCredentialKeysRequest(), metadata=call_metadata("acme", "admin1")
    )
    assert rotated.rotated == 1
    assert (await api.store.credentials_for("acme", "testnet", "@acme")).values == {"t": SECRET}


async def test_account_audit_events_name_the_status_change_and_leave_post_statuses_empty(
    store: AccountStore, engine: AsyncEngine
) -> None:
    await store.connect("acme", "testnet", "@acme", "", {"token": "t"}, "alice")
    await store.mark_needs_reauth("acme", "testnet", "@acme", "token revoked")
    await store.disconnect("acme", "testnet", "@acme", "alice")
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(AuditEventRow).where(AuditEventRow.tenant == "acme").order_by(AuditEventRow.id)
            )
        ).scalars()
        events = [(r.action, r.from_status, r.to_status, r.detail) for r in rows]
    assert [(a, f, t) for a, f, t, _ in events] == [
        ("account.connected", 0, 0),
        ("account.needs_reauth", 0, 0),
        ("account.disconnected", 0, 0),
    ]
    assert "[connected -> needs re-authentication]" in events[1][3]
    assert "[needs re-authentication -> disconnected]" in events[2][3]
