"""Who may do what in a workspace: roles (EDITOR < APPROVER < ADMIN) and the permissions they grant.

A workspace (tenant) without members is *open*: every actor, named or not, may do everything. That is
how a workspace starts; once it has a member every call that changes something needs an actor with a
role that grants the permission (``PERMISSION_DENIED`` otherwise, naming what is missing). Until
authentication exists the actor is the caller's ``x-resonanz-actor`` metadata.
"""

from __future__ import annotations

from enum import StrEnum

from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import PermissionDeniedError
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.models import MemberRow


class Permission(StrEnum):
    #: Create, edit, submit, comment, cancel posts; reply to mentions; upload media; connect accounts.
    EDIT = "edit"
    #: Approve and reject posts in review.
    APPROVE = "approve"
    #: Members, the approval policy, credential key rotation.
    ADMIN = "admin"


#: The least role that grants each permission.
_LEAST_ROLE: dict[Permission, int] = {
    Permission.EDIT: Role.ROLE_EDITOR,
    Permission.APPROVE: Role.ROLE_APPROVER,
    Permission.ADMIN: Role.ROLE_ADMIN,
}

ROLE_NAMES: dict[int, str] = {
    Role.ROLE_EDITOR: "editor",
    Role.ROLE_APPROVER: "approver",
    Role.ROLE_ADMIN: "admin",
}


def role_grants(role: int, permission: Permission) -> bool:
    return role >= _LEAST_ROLE[permission]


class AccessControl:
    """Permission checks against ``publishing_members``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def is_open(self, tenant: str) -> bool:
        """True while the workspace has no members (everyone may do everything)."""
        async with self._sessions() as session:
            return await workspace_is_open(session, tenant)

    async def role_of(self, tenant: str, actor: str) -> int | None:
        """The actor's role number, or ``None`` when the actor is not a member."""
        if not actor:
            return None
        async with self._sessions() as session:
            role: int | None = (
                await session.execute(
                    select(MemberRow.role).where(MemberRow.tenant == tenant, MemberRow.user == actor)
                )
            ).scalar_one_or_none()
            return role

    async def require(self, tenant: str, actor: str, permission: Permission) -> None:
        """Return when ``actor`` may do ``permission`` in ``tenant``; raise PermissionDeniedError if not."""
        async with self._sessions() as session:
            if await workspace_is_open(session, tenant):
                return
            if not actor:
                raise PermissionDeniedError(
                    f"workspace {tenant!r} has members: name yourself in the x-resonanz-actor metadata"
                )
            role: int | None = (
                await session.execute(
                    select(MemberRow.role).where(MemberRow.tenant == tenant, MemberRow.user == actor)
                )
            ).scalar_one_or_none()
        if role is None:
            raise PermissionDeniedError(f"{actor!r} is not a member of workspace {tenant!r}")
        if not role_grants(role, permission):
            needed = ROLE_NAMES[_LEAST_ROLE[permission]]
            raise PermissionDeniedError(
                f"{actor!r} is {ROLE_NAMES.get(role, 'unknown')}; {permission.value} needs the {needed} role"
            )


async def workspace_is_open(session: AsyncSession, tenant: str) -> bool:
    has_member = (await session.execute(select(exists().where(MemberRow.tenant == tenant)))).scalar_one()
    return not has_member
