"""The workspace: its approval policy and its members with their roles.

* :class:`PolicyStore` keeps one :class:`Policy` per tenant (``publishing_approval_policies``); a tenant
  without a row has the default policy: no review steps, posts are scheduled when submitted.
* :class:`MemberStore` keeps the members (``publishing_members``). Two rules always hold, also when
  calls race: the first member of an open workspace is an ADMIN, and a workspace that has members
  never ends up without an ADMIN. Each change runs in one transaction that first serialises every
  other member change of the tenant (PostgreSQL: a transaction-scoped advisory lock on the tenant plus
  ``SELECT … FOR UPDATE`` of its member rows; SQLite: a no-op write that takes the database's write
  lock), then checks the actor's permission, then changes the row and writes the audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from resonanz_sdk.grpc import Validator, validate_actor
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.access import ROLE_NAMES
from resonanz_publishing.audit import record
from resonanz_publishing.convert import now_utc
from resonanz_publishing.models import ApprovalPolicyRow, MemberRow

MAX_POLICY_STEPS = 10
MAX_STEP_NAME_LENGTH = 100
MAX_APPROVALS_REQUIRED = 10
ASSIGNABLE_ROLES: frozenset[int] = frozenset({Role.ROLE_EDITOR, Role.ROLE_APPROVER, Role.ROLE_ADMIN})


@dataclass(frozen=True)
class PolicyStep:
    """One review step: passed when ``approvals_required`` different approvers approved it."""

    name: str
    approvals_required: int


@dataclass(frozen=True)
class Policy:
    """A workspace's approval policy. The default (no steps) means: no review."""

    steps: tuple[PolicyStep, ...] = ()
    allow_self_approval: bool = False
    review_replies: bool = False

    @property
    def requires_review(self) -> bool:
        """Whether a submitted post goes to review (it has at least one step) instead of being scheduled."""
        return bool(self.steps)


def policy_from_proto(message: wpb.ApprovalPolicy) -> Policy:
    return Policy(
        steps=tuple(PolicyStep(s.name, s.approvals_required) for s in message.steps),
        allow_self_approval=message.allow_self_approval,
        review_replies=message.review_replies,
    )


def policy_to_proto(policy: Policy) -> wpb.ApprovalPolicy:
    return wpb.ApprovalPolicy(
        steps=[wpb.ApprovalStep(name=s.name, approvals_required=s.approvals_required) for s in policy.steps],
        allow_self_approval=policy.allow_self_approval,
        review_replies=policy.review_replies,
    )


def validate_policy(policy: Policy, field: str = "policy") -> None:
    """Raise ValidationError naming ``policy.steps``, ``policy.steps[1].name`` … for an invalid policy."""
    v = Validator()
    v.require(
        len(policy.steps) <= MAX_POLICY_STEPS,
        f"{field}.steps",
        f"at most {MAX_POLICY_STEPS} steps (got {len(policy.steps)})",
    )
    seen: dict[str, int] = {}
    for i, step in enumerate(policy.steps):
        step_field = f"{field}.steps[{i}]"
        if v.non_empty(step.name, f"{step_field}.name") and v.max_length(
            step.name, MAX_STEP_NAME_LENGTH, f"{step_field}.name"
        ):
            key = step.name.strip().casefold()
            if key in seen:
                v.add(f"{step_field}.name", f"duplicate of {field}.steps[{seen[key]}].name ({step.name!r})")
            else:
                seen[key] = i
        v.require(
            1 <= step.approvals_required <= MAX_APPROVALS_REQUIRED,
            f"{step_field}.approvals_required",
            f"must be 1..{MAX_APPROVALS_REQUIRED} (is {step.approvals_required})",
        )
    v.check()


def describe_policy(policy: Policy) -> str:
    """The policy in words, for the audit log."""
    if not policy.steps:
        review = "no review: posts are scheduled when submitted"
    else:
        parts = [
            f"{s.name} ({s.approvals_required} approval{'s' if s.approvals_required != 1 else ''})"
            for s in policy.steps
        ]
        review = f"{len(policy.steps)} step{'s' if len(policy.steps) != 1 else ''}: " + ", ".join(parts)
    self_approval = "self-approval allowed" if policy.allow_self_approval else "no self-approval"
    replies = "replies reviewed" if policy.review_replies else "replies not reviewed"
    return f"{review}; {self_approval}; {replies}"


def _steps_to_json(steps: Iterable[PolicyStep]) -> list[dict[str, Any]]:
    return [{"name": s.name, "approvals_required": s.approvals_required} for s in steps]


def _policy_from_row(row: ApprovalPolicyRow | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(
        steps=tuple(PolicyStep(str(s["name"]), int(s["approvals_required"])) for s in row.steps),
        allow_self_approval=row.allow_self_approval,
        review_replies=row.review_replies,
    )


class PolicyStore:
    """The approval policy of each workspace."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"

    async def get(self, tenant: str) -> Policy:
        """The tenant's policy; the default :class:`Policy` (no review) when none was set."""
        async with self._sessions() as session:
            return await self.policy_in(session, tenant)

    async def policy_in(self, session: AsyncSession, tenant: str) -> Policy:
        """Like :meth:`get`, inside the caller's session (and transaction, if one is open)."""
        row: ApprovalPolicyRow | None = (
            await session.execute(
                select(ApprovalPolicyRow)
                .where(ApprovalPolicyRow.tenant == tenant)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        return _policy_from_row(row)

    async def set(self, tenant: str, policy: Policy, actor: str) -> Policy:
        """Validate and store ``policy`` (insert or replace) and audit ``policy.updated``; returns it.

        Permission checks are the caller's (the servicer requires ADMIN).
        """
        validate_policy(policy)
        values: dict[str, Any] = {
            "tenant": tenant,
            "steps": _steps_to_json(policy.steps),
            "allow_self_approval": policy.allow_self_approval,
            "review_replies": policy.review_replies,
            "updated_at": now_utc(),
        }
        insert = sqlite_insert if self._sqlite else pg_insert
        stmt = insert(ApprovalPolicyRow).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ApprovalPolicyRow.tenant],
            set_={k: stmt.excluded[k] for k in values if k != "tenant"},
        )
        async with self._sessions.begin() as session:
            await session.execute(stmt)
            record(
                session, tenant=tenant, action="policy.updated", actor=actor, detail=describe_policy(policy)
            )
        return policy


def validate_member(user: str, role: int | None = None) -> None:
    """Raise ValidationError on ``user`` (the x-resonanz-actor rules) and ``role`` (when given)."""
    v = Validator()
    try:
        validate_actor(user)
    except ValidationError as exc:
        v.add("user", exc.violations[0].description)
    if role is not None:
        v.require(role in ASSIGNABLE_ROLES, "role", "must be ROLE_EDITOR, ROLE_APPROVER or ROLE_ADMIN")
    v.check()


def _role_name(role: int) -> str:
    return ROLE_NAMES.get(role, f"role {role}")


class MemberStore:
    """Members of each workspace and their roles."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"

    async def list_members(self, tenant: str) -> list[MemberRow]:
        """The tenant's members, sorted by user."""
        async with self._sessions() as session:
            stmt = select(MemberRow).where(MemberRow.tenant == tenant).order_by(MemberRow.user)
            return list((await session.execute(stmt)).scalars())

    async def set_role(self, tenant: str, user: str, role: int, actor: str) -> MemberRow:
        """Add ``user`` with ``role`` or change their role; audit ``member.role_set``.

        Raises ValidationError (``user``, ``role``), PermissionDeniedError (``actor`` is not an ADMIN of a
        workspace with members) or FailedPreconditionError (the first member must be an ADMIN; the last
        ADMIN cannot be demoted).
        """
        validate_member(user, role)
        async with self._sessions.begin() as session:
            members = await self._lock_members(session, tenant)
            if not members:
                if role != Role.ROLE_ADMIN:
                    raise FailedPreconditionError(
                        f"workspace {tenant!r} has no members yet: the first member must be an admin"
                    )
            else:
                _require_admin(members, tenant, actor)
            existing = next((m for m in members if m.user == user), None)
            if existing is None:
                row = MemberRow(tenant=tenant, user=user, role=role, added_at=now_utc())
                session.add(row)
                detail = f"added {user} as {_role_name(role)}"
            else:
                row = existing
                if row.role == role:
                    return row
                if row.role == Role.ROLE_ADMIN and _admin_count(members) == 1:
                    raise FailedPreconditionError(
                        f"{user!r} is the last admin of workspace {tenant!r}: make another member admin first"
                    )
                detail = f"{user}: {_role_name(row.role)} -> {_role_name(role)}"
                row.role = role
            record(session, tenant=tenant, action="member.role_set", actor=actor, detail=detail)
        return row

    async def remove(self, tenant: str, user: str, actor: str) -> None:
        """Remove ``user`` from the workspace; audit ``member.removed``.

        Raises ValidationError (``user``), NotFoundError (not a member), PermissionDeniedError or
        FailedPreconditionError (the last ADMIN cannot be removed).
        """
        validate_member(user)
        async with self._sessions.begin() as session:
            members = await self._lock_members(session, tenant)
            if members:
                _require_admin(members, tenant, actor)
            existing = next((m for m in members if m.user == user), None)
            if existing is None:
                raise NotFoundError(f"{user!r} is not a member of workspace {tenant!r}")
            if existing.role == Role.ROLE_ADMIN and _admin_count(members) == 1:
                raise FailedPreconditionError(
                    f"{user!r} is the last admin of workspace {tenant!r}: make another member admin first"
                )
            await session.delete(existing)
            record(
                session,
                tenant=tenant,
                action="member.removed",
                actor=actor,
                detail=f"removed {user} ({_role_name(existing.role)})",
            )

    async def _lock_members(self, session: AsyncSession, tenant: str) -> list[MemberRow]:
        """The tenant's member rows, read after every other member change of the tenant is serialised.

        Row locks alone cannot guard an empty workspace (there is no row to lock), hence the advisory
        lock on PostgreSQL; SQLite has one writer at a time, which the no-op UPDATE claims.
        """
        stmt = select(MemberRow).where(MemberRow.tenant == tenant).execution_options(populate_existing=True)
        if self._sqlite:
            await session.execute(
                update(MemberRow)
                .where(MemberRow.tenant == tenant)
                .values(role=MemberRow.role)
                .execution_options(synchronize_session=False)
            )
        else:
            key = f"publishing_members:{tenant}"
            await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
            stmt = stmt.with_for_update()
        return list((await session.execute(stmt)).scalars())


def _admin_count(members: Sequence[MemberRow]) -> int:
    return sum(1 for m in members if m.role == Role.ROLE_ADMIN)


def _require_admin(members: Sequence[MemberRow], tenant: str, actor: str) -> None:
    """Re-checks, inside the locked transaction, what ``AccessControl.require(ADMIN)`` checked before.

    This closes the race where two callers both see an open workspace and both add themselves.
    """
    if not actor:
        raise PermissionDeniedError(
            f"workspace {tenant!r} has members: name yourself in the x-resonanz-actor metadata"
        )
    role = next((m.role for m in members if m.user == actor), None)
    if role is None:
        raise PermissionDeniedError(f"{actor!r} is not a member of workspace {tenant!r}")
    if role != Role.ROLE_ADMIN:
        raise PermissionDeniedError(f"{actor!r} is {_role_name(role)}; changing members needs the admin role")
