"""The gRPC API: ``resonanz.publishing.v1.WorkspaceService`` (members, approval policy, campaigns).

Every method takes the tenant from the call's metadata and the actor from ``x-resonanz-actor``,
validates its request (INVALID_ARGUMENT naming the field) before it checks permissions, and sees only
the tenant's data. Changing members or the policy needs the ADMIN role, creating a campaign the EDIT
permission; reading needs no role. In an open workspace (no members) anyone may do anything, but the
first member must be an ADMIN.
"""

from __future__ import annotations

from typing import Any

import grpc.aio
from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz.publishing.v1 import workspace_service_pb2_grpc as wpb_grpc
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, actor_of, page_token, tenant_of

from resonanz_publishing.access import AccessControl, Permission
from resonanz_publishing.campaigns import (
    MAX_CAMPAIGN_ID_LENGTH,
    CampaignCursor,
    CampaignStore,
    campaign_to_proto,
    validate_create_campaign,
)
from resonanz_publishing.convert import to_timestamp
from resonanz_publishing.models import MemberRow
from resonanz_publishing.workspace import (
    MemberStore,
    PolicyStore,
    policy_from_proto,
    policy_to_proto,
    validate_member,
    validate_policy,
)

Context = grpc.aio.ServicerContext[Any, Any]

MAX_PAGE_SIZE = 500


def member_to_proto(row: MemberRow) -> wpb.Member:
    return wpb.Member(user=row.user, role=row.role, added_at=to_timestamp(row.added_at))  # type: ignore[arg-type]


class WorkspaceServicer(wpb_grpc.WorkspaceServiceServicer):
    def __init__(
        self, policies: PolicyStore, members: MemberStore, campaigns: CampaignStore, access: AccessControl
    ) -> None:
        self._policies = policies
        self._members = members
        self._campaigns = campaigns
        self._access = access

    async def SetMemberRole(  # noqa: N802 - gRPC method name
        self, request: wpb.SetMemberRoleRequest, context: Context
    ) -> wpb.SetMemberRoleResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        validate_member(request.user, request.role)
        await self._access.require(tenant, actor, Permission.ADMIN)
        row = await self._members.set_role(tenant, request.user, request.role, actor)
        return wpb.SetMemberRoleResponse(member=member_to_proto(row))

    async def RemoveMember(  # noqa: N802 - gRPC method name
        self, request: wpb.RemoveMemberRequest, context: Context
    ) -> wpb.RemoveMemberResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        validate_member(request.user)
        await self._access.require(tenant, actor, Permission.ADMIN)
        await self._members.remove(tenant, request.user, actor)
        return wpb.RemoveMemberResponse()

    async def ListMembers(  # noqa: N802 - gRPC method name
        self, request: wpb.ListMembersRequest, context: Context
    ) -> wpb.ListMembersResponse:
        tenant = tenant_of(context)
        rows = await self._members.list_members(tenant)
        return wpb.ListMembersResponse(members=[member_to_proto(r) for r in rows])

    async def GetApprovalPolicy(  # noqa: N802 - gRPC method name
        self, request: wpb.GetApprovalPolicyRequest, context: Context
    ) -> wpb.GetApprovalPolicyResponse:
        tenant = tenant_of(context)
        return wpb.GetApprovalPolicyResponse(policy=policy_to_proto(await self._policies.get(tenant)))

    async def SetApprovalPolicy(  # noqa: N802 - gRPC method name
        self, request: wpb.SetApprovalPolicyRequest, context: Context
    ) -> wpb.SetApprovalPolicyResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        policy = policy_from_proto(request.policy)
        validate_policy(policy)
        await self._access.require(tenant, actor, Permission.ADMIN)
        stored = await self._policies.set(tenant, policy, actor)
        return wpb.SetApprovalPolicyResponse(policy=policy_to_proto(stored))

    async def CreateCampaign(  # noqa: N802 - gRPC method name
        self, request: wpb.CreateCampaignRequest, context: Context
    ) -> wpb.CreateCampaignResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        validate_create_campaign(request)
        await self._access.require(tenant, actor, Permission.EDIT)
        row, _created = await self._campaigns.create(tenant, request, actor)
        return wpb.CreateCampaignResponse(campaign=campaign_to_proto(row))

    async def GetCampaign(  # noqa: N802 - gRPC method name
        self, request: wpb.GetCampaignRequest, context: Context
    ) -> wpb.GetCampaignResponse:
        tenant = tenant_of(context)
        v = Validator()
        if v.non_empty(request.campaign_id, "campaign_id"):
            v.max_length(request.campaign_id, MAX_CAMPAIGN_ID_LENGTH, "campaign_id")
        v.check()
        row = await self._campaigns.get(tenant, request.campaign_id)
        return wpb.GetCampaignResponse(campaign=campaign_to_proto(row))

    async def ListCampaigns(  # noqa: N802 - gRPC method name
        self, request: wpb.ListCampaignsRequest, context: Context
    ) -> wpb.ListCampaignsResponse:
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        raw = v.page_token(request.page_token, "page_token")
        v.check()
        after = _decode_cursor(raw)
        rows, next_cursor = await self._campaigns.list_campaigns(tenant, limit=size, after=after)
        return wpb.ListCampaignsResponse(
            campaigns=[campaign_to_proto(r) for r in rows],
            next_page_token=page_token.encode(next_cursor.encode()) if next_cursor else "",
        )


def _decode_cursor(raw: str) -> CampaignCursor | None:
    if not raw:
        return None
    try:
        return CampaignCursor.decode(raw)
    except ValueError:
        raise ValidationError.single(
            "page_token", "invalid page token: pass the next_page_token of the previous response unchanged"
        ) from None
