"""WorkspaceService members, roles and approval policy over a real gRPC server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz.publishing.v1 import workspace_service_pb2_grpc as wpb_grpc
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_publishing.access import AccessControl
from resonanz_publishing.campaigns import CampaignStore
from resonanz_publishing.models import AuditEventRow, Base, MemberRow
from resonanz_publishing.workspace import (
    MemberStore,
    Policy,
    PolicyStep,
    PolicyStore,
    describe_policy,
)
from resonanz_publishing.workspace_servicer import WorkspaceServicer
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.grpc import GrpcServer, call_metadata, field_violations
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

ADMIN, APPROVER, EDITOR = Role.ROLE_ADMIN, Role.ROLE_APPROVER, Role.ROLE_EDITOR


@dataclass
class Workspace:
    stub: wpb_grpc.WorkspaceServiceAsyncStub
    engine: AsyncEngine
    policies: PolicyStore
    members: MemberStore

    def md(self, actor: str = "", tenant: str = "acme") -> tuple[tuple[str, str], ...]:
        return call_metadata(tenant, actor)

    async def set_role(self, user: str, role: int, actor: str = "", tenant: str = "acme") -> wpb.Member:
        response = await self.stub.SetMemberRole(
            wpb.SetMemberRoleRequest(user=user, role=role),  # type: ignore[arg-type]
            metadata=self.md(actor, tenant),
        )
        return response.member

    async def members_of(self, tenant: str = "acme") -> dict[str, int]:
        response = await self.stub.ListMembers(wpb.ListMembersRequest(), metadata=self.md(tenant=tenant))
        return {m.user: m.role for m in response.members}

    async def audit(self, tenant: str = "acme") -> list[AuditEventRow]:
        async with session_factory(self.engine)() as session:
            stmt = select(AuditEventRow).where(AuditEventRow.tenant == tenant).order_by(AuditEventRow.id)
            return list((await session.execute(stmt)).scalars())


@pytest.fixture
async def workspace(database_url: str) -> AsyncIterator[Workspace]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    policies, members = PolicyStore(engine), MemberStore(engine)
    servicer = WorkspaceServicer(policies, members, CampaignStore(engine), AccessControl(engine))
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        name="workspace-tests",
        services=[wpb.DESCRIPTOR.services_by_name["WorkspaceService"].full_name],
        register=lambda s: wpb_grpc.add_WorkspaceServiceServicer_to_server(servicer, s),
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Workspace(wpb_grpc.WorkspaceServiceStub(channel), engine, policies, members)
    finally:
        await server.stop(0)
        await engine.dispose()


async def expect_code(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return info.value


def fields_of(error: grpc.aio.AioRpcError) -> set[str]:
    return {v.field for v in field_violations(error)}


def policy(*steps: tuple[str, int], self_approval: bool = False, replies: bool = False) -> wpb.ApprovalPolicy:
    return wpb.ApprovalPolicy(
        steps=[wpb.ApprovalStep(name=n, approvals_required=k) for n, k in steps],
        allow_self_approval=self_approval,
        review_replies=replies,
    )


async def test_open_workspace_accepts_only_an_admin_as_first_member(workspace: Workspace) -> None:
    assert await workspace.members_of() == {}
    error = await expect_code(
        workspace.set_role("eve", EDITOR, actor="eve"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "first member must be an admin" in (error.details() or "")
    assert await workspace.members_of() == {}

    # Anyone, even without naming themselves, may add the first admin.
    member = await workspace.set_role("ann", ADMIN)
    assert (member.user, member.role) == ("ann", ADMIN)
    assert member.added_at.seconds > 0
    assert await workspace.members_of() == {"ann": ADMIN}


async def test_once_there_is_an_admin_only_admins_change_roles_and_policy(workspace: Workspace) -> None:
    await workspace.set_role("ann", ADMIN)
    # The workspace is no longer open: an anonymous caller and a non-member are refused.
    await expect_code(workspace.set_role("eve", ADMIN), grpc.StatusCode.PERMISSION_DENIED)
    await expect_code(workspace.set_role("eve", ADMIN, actor="eve"), grpc.StatusCode.PERMISSION_DENIED)

    await workspace.set_role("ed", EDITOR, actor="ann")
    await workspace.set_role("apu", APPROVER, actor="ann")
    for actor in ("ed", "apu"):
        error = await expect_code(
            workspace.set_role(actor, ADMIN, actor=actor), grpc.StatusCode.PERMISSION_DENIED
        )
        assert "admin" in (error.details() or "")
        await expect_code(
            workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="ann"), metadata=workspace.md(actor)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        await expect_code(
            workspace.stub.SetApprovalPolicy(
                wpb.SetApprovalPolicyRequest(policy=policy(("legal", 1))), metadata=workspace.md(actor)
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    assert await workspace.members_of() == {"ann": ADMIN, "apu": APPROVER, "ed": EDITOR}
    assert (await workspace.policies.get("acme")) == Policy()

    # The admin can do all of it.
    await workspace.set_role("ed", APPROVER, actor="ann")
    await workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="apu"), metadata=workspace.md("ann"))
    response = await workspace.stub.SetApprovalPolicy(
        wpb.SetApprovalPolicyRequest(policy=policy(("legal", 1), ("brand", 2))), metadata=workspace.md("ann")
    )
    assert [s.name for s in response.policy.steps] == ["legal", "brand"]
    assert await workspace.members_of() == {"ann": ADMIN, "ed": APPROVER}


async def test_the_last_admin_can_be_neither_demoted_nor_removed(workspace: Workspace) -> None:
    await workspace.set_role("ann", ADMIN)
    await workspace.set_role("ed", EDITOR, actor="ann")
    error = await expect_code(
        workspace.set_role("ann", EDITOR, actor="ann"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "last admin" in (error.details() or "")
    await expect_code(
        workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="ann"), metadata=workspace.md("ann")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert await workspace.members_of() == {"ann": ADMIN, "ed": EDITOR}

    # With a second admin, the first may step down and then be removed.
    await workspace.set_role("bo", ADMIN, actor="ann")
    await workspace.set_role("ann", APPROVER, actor="ann")
    await workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="ann"), metadata=workspace.md("bo"))
    assert await workspace.members_of() == {"bo": ADMIN, "ed": EDITOR}
    await expect_code(
        workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="ann"), metadata=workspace.md("bo")),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_code(workspace.set_role("bo", EDITOR, actor="bo"), grpc.StatusCode.FAILED_PRECONDITION)


async def test_racing_first_admins_leave_exactly_one(workspace: Workspace) -> None:
    users = [f"user{i}" for i in range(8)]
    results = await asyncio.gather(
        *(workspace.set_role(u, ADMIN, actor=u) for u in users), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, wpb.Member)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1, results
    assert {e.code() for e in losers} == {grpc.StatusCode.PERMISSION_DENIED}
    assert await workspace.members_of() == {winners[0].user: ADMIN}


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(workspace: Workspace) -> None:
    await workspace.set_role("ann", ADMIN)
    await workspace.set_role("bo", ADMIN, actor="ann")
    for _ in range(3):
        await asyncio.gather(
            workspace.set_role("ann", EDITOR, actor="bo"),
            workspace.set_role("bo", EDITOR, actor="ann"),
            return_exceptions=True,
        )
        roles = await workspace.members_of()
        assert list(roles.values()).count(ADMIN) == 1, roles
        admin = next(u for u, r in roles.items() if r == ADMIN)
        other = "bo" if admin == "ann" else "ann"
        await workspace.set_role(other, ADMIN, actor=admin)


async def test_member_requests_are_validated_before_permissions(workspace: Workspace) -> None:
    await workspace.set_role("ann", ADMIN)
    for user in ("", "-dash", "has space", "x" * 201):
        error = await expect_code(
            workspace.set_role(user, EDITOR, actor="nobody"), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert fields_of(error) == {"user"}, user
    error = await expect_code(
        workspace.set_role("ed", Role.ROLE_UNSPECIFIED, actor="ann"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields_of(error) == {"role"}
    error = await expect_code(workspace.set_role("ed", 42, actor="ann"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == {"role"}
    error = await expect_code(
        workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user=""), metadata=workspace.md("ann")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == {"user"}
    # Member ids may look like e-mail addresses.
    await workspace.set_role("ed.smith+pr@example.com", EDITOR, actor="ann")
    assert "ed.smith+pr@example.com" in await workspace.members_of()


async def test_members_are_listed_sorted_and_per_tenant(workspace: Workspace) -> None:
    await workspace.set_role("zoe", ADMIN)
    for user in ("mia", "ann", "bob"):
        await workspace.set_role(user, EDITOR, actor="zoe")
    response = await workspace.stub.ListMembers(wpb.ListMembersRequest(), metadata=workspace.md())
    assert [m.user for m in response.members] == ["ann", "bob", "mia", "zoe"]

    # Another tenant is still open and knows none of them.
    assert await workspace.members_of("globex") == {}
    await workspace.set_role("zoe", ADMIN, tenant="globex")
    await expect_code(
        workspace.stub.RemoveMember(
            wpb.RemoveMemberRequest(user="ann"), metadata=workspace.md("zoe", "globex")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # zoe is admin in both; mia is a member of acme only and has no say in globex.
    await expect_code(
        workspace.set_role("mia", ADMIN, actor="mia", tenant="globex"), grpc.StatusCode.PERMISSION_DENIED
    )
    assert await workspace.members_of("globex") == {"zoe": ADMIN}


async def test_policy_defaults_roundtrips_and_is_per_tenant(workspace: Workspace) -> None:
    got = await workspace.stub.GetApprovalPolicy(wpb.GetApprovalPolicyRequest(), metadata=workspace.md())
    assert got.policy == wpb.ApprovalPolicy()
    assert not (await workspace.policies.get("acme")).requires_review

    wanted = policy(("legal", 1), ("brand", 2), self_approval=True, replies=True)
    await workspace.stub.SetApprovalPolicy(
        wpb.SetApprovalPolicyRequest(policy=wanted), metadata=workspace.md("ann")
    )
    got = await workspace.stub.GetApprovalPolicy(wpb.GetApprovalPolicyRequest(), metadata=workspace.md())
    assert got.policy == wanted
    stored = await workspace.policies.get("acme")
    assert stored == Policy((PolicyStep("legal", 1), PolicyStep("brand", 2)), True, True)
    assert stored.requires_review

    # policy_in reads inside a caller's transaction.
    async with session_factory(workspace.engine).begin() as session:
        assert await workspace.policies.policy_in(session, "acme") == stored
        assert await workspace.policies.policy_in(session, "globex") == Policy()

    # Replacing it (an upsert) and back to no review.
    await workspace.stub.SetApprovalPolicy(
        wpb.SetApprovalPolicyRequest(policy=policy()), metadata=workspace.md()
    )
    assert await workspace.policies.get("acme") == Policy()
    got = await workspace.stub.GetApprovalPolicy(
        wpb.GetApprovalPolicyRequest(), metadata=workspace.md(tenant="globex")
    )
    assert got.policy == wpb.ApprovalPolicy()


async def test_policy_validation_names_the_fields(workspace: Workspace) -> None:
    async def violations(p: wpb.ApprovalPolicy) -> set[str]:
        error = await expect_code(
            workspace.stub.SetApprovalPolicy(wpb.SetApprovalPolicyRequest(policy=p), metadata=workspace.md()),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        return fields_of(error)

    assert await violations(policy(*((f"s{i}", 1) for i in range(11)))) == {"policy.steps"}
    assert await violations(policy(("legal", 1), ("Legal ", 1))) == {"policy.steps[1].name"}
    assert await violations(policy(("legal", 1), ("", 1))) == {"policy.steps[1].name"}
    assert await violations(policy(("legal", 1), ("x" * 101, 1))) == {"policy.steps[1].name"}
    assert await violations(policy(("legal", 1), ("brand", 0))) == {"policy.steps[1].approvals_required"}
    assert await violations(policy(("legal", 11))) == {"policy.steps[0].approvals_required"}
    assert await violations(policy(("", -1))) == {
        "policy.steps[0].name",
        "policy.steps[0].approvals_required",
    }
    # The limits themselves are fine.
    ok = policy(*((f"s{i}", 10) for i in range(9)), ("x" * 100, 1))
    await workspace.stub.SetApprovalPolicy(wpb.SetApprovalPolicyRequest(policy=ok), metadata=workspace.md())
    assert len((await workspace.policies.get("acme")).steps) == 10
    # Nothing invalid was stored: only the valid policy was audited.
    assert [e.action for e in await workspace.audit()] == ["policy.updated"]


async def test_changes_are_audited_with_actor_and_detail(workspace: Workspace) -> None:
    await workspace.set_role("ann", ADMIN)
    await workspace.set_role("ed", EDITOR, actor="ann")
    await workspace.set_role("ed", APPROVER, actor="ann")
    await workspace.set_role("ed", APPROVER, actor="ann")  # unchanged: not audited
    await workspace.stub.RemoveMember(wpb.RemoveMemberRequest(user="ed"), metadata=workspace.md("ann"))
    await workspace.stub.SetApprovalPolicy(
        wpb.SetApprovalPolicyRequest(policy=policy(("legal", 2))), metadata=workspace.md("ann")
    )
    await expect_code(workspace.set_role("ann", EDITOR, actor="ann"), grpc.StatusCode.FAILED_PRECONDITION)

    events = await workspace.audit()
    assert [(e.action, e.actor, e.post_id) for e in events] == [
        ("member.role_set", "anonymous", ""),
        ("member.role_set", "ann", ""),
        ("member.role_set", "ann", ""),
        ("member.removed", "ann", ""),
        ("policy.updated", "ann", ""),
    ]
    assert events[0].detail == "added ann as admin"
    assert events[1].detail == "added ed as editor"
    assert events[2].detail == "ed: editor -> approver"
    assert events[3].detail == "removed ed (approver)"
    assert events[4].detail == describe_policy(Policy((PolicyStep("legal", 2),)))
    assert "legal (2 approvals)" in events[4].detail
    assert await workspace.audit("globex") == []

    async with session_factory(workspace.engine)() as session:
        rows = (await session.execute(select(MemberRow.user))).scalars().all()
    assert list(rows) == ["ann"]
