"""In-process doubles of AccountService, WorkspaceService and MediaService for the CLI tests.

They speak the real protos inside the sdk's real :class:`~resonanz_sdk.grpc.GrpcServer` (real grpc.aio
on loopback, real error interceptor, real tenant and actor metadata) and answer like the real services
would for what the CLI relies on: validation with named fields, NOT_FOUND across tenants, roles once a
workspace has members, credentials kept but never returned, the 1 MiB chunk limit and declared size of
uploads. They record every request (with its tenant and actor) so tests can check what the CLI sent.
The real services are covered by their own tests and by the lead's end-to-end test.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc.aio
import resonanz.publishing.v1.account_service_pb2 as account_pb2
import resonanz.publishing.v1.account_service_pb2_grpc as account_grpc
import resonanz.publishing.v1.media_service_pb2 as media_pb2
import resonanz.publishing.v1.media_service_pb2_grpc as media_grpc
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
import resonanz.publishing.v1.workspace_service_pb2_grpc as workspace_grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2
from resonanz_sdk.errors import (
    FailedPreconditionError,
    FieldViolation,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from resonanz_sdk.grpc import actor_of, tenant_of

Context = grpc.aio.ServicerContext[Any, Any]
MAX_CHUNK = 1024 * 1024
_RANK = {workspace_pb2.ROLE_EDITOR: 1, workspace_pb2.ROLE_APPROVER: 2, workspace_pb2.ROLE_ADMIN: 3}


def now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def page(items: list[Any], page_size: int, token: str) -> tuple[list[Any], str]:
    start = int(token or "0")
    end = start + (page_size or 50)
    return items[start:end], (str(end) if end < len(items) else "")


@dataclass
class Call:
    """One recorded call: the method, the caller's tenant and actor, and the request."""

    method: str
    tenant: str
    actor: str
    request: Message


@dataclass
class Recorder:
    """Records every call; ``requests("X")`` are the requests of method X in order."""

    calls: list[Call] = field(default_factory=list)

    def record(self, method: str, request: Message, context: Context) -> tuple[str, str]:
        tenant, actor = tenant_of(context), actor_of(context)
        self.calls.append(Call(method, tenant, actor, request))
        return tenant, actor

    def requests(self, method: str) -> list[Any]:
        return [c.request for c in self.calls if c.method == method]


@dataclass
class WorkspaceDouble(workspace_grpc.WorkspaceServiceServicer):
    """Members, approval policy and campaigns per tenant; open until the first member is added."""

    recorder: Recorder = field(default_factory=Recorder)
    members: dict[str, dict[str, workspace_pb2.Member]] = field(default_factory=dict)
    policies: dict[str, workspace_pb2.ApprovalPolicy] = field(default_factory=dict)
    campaigns: dict[str, content_pb2.Campaign] = field(default_factory=dict)

    def require(self, tenant: str, actor: str, role: workspace_pb2.Role.ValueType) -> None:
        """Like the real access control: an open workspace lets everyone do everything."""
        members = self.members.get(tenant, {})
        if not members:
            return
        member = members.get(actor)
        if member is None or _RANK[member.role] < _RANK[role]:
            needed = workspace_pb2.Role.Name(role).removeprefix("ROLE_").lower()
            raise PermissionDeniedError(f"{actor or 'anonymous'} needs the {needed} role")

    def policy(self, tenant: str) -> workspace_pb2.ApprovalPolicy:
        return self.policies.get(tenant, workspace_pb2.ApprovalPolicy())

    async def SetMemberRole(  # noqa: N802
        self, request: workspace_pb2.SetMemberRoleRequest, context: Context
    ) -> workspace_pb2.SetMemberRoleResponse:
        tenant, actor = self.recorder.record("SetMemberRole", request, context)
        violations = []
        if not request.user.strip():
            violations.append(FieldViolation("user", "must not be empty"))
        if request.role == workspace_pb2.ROLE_UNSPECIFIED:
            violations.append(FieldViolation("role", "must be editor, approver or admin"))
        if violations:
            raise ValidationError(violations)
        members = self.members.setdefault(tenant, {})
        if not members and request.role != workspace_pb2.ROLE_ADMIN:
            raise FailedPreconditionError("the first member of a workspace must be an admin")
        self.require(tenant, actor, workspace_pb2.ROLE_ADMIN)
        member = workspace_pb2.Member(user=request.user, role=request.role, added_at=now())
        members[request.user] = member
        return workspace_pb2.SetMemberRoleResponse(member=member)

    async def RemoveMember(  # noqa: N802
        self, request: workspace_pb2.RemoveMemberRequest, context: Context
    ) -> workspace_pb2.RemoveMemberResponse:
        tenant, actor = self.recorder.record("RemoveMember", request, context)
        self.require(tenant, actor, workspace_pb2.ROLE_ADMIN)
        if self.members.get(tenant, {}).pop(request.user, None) is None:
            raise NotFoundError(f"member {request.user!r} not found")
        return workspace_pb2.RemoveMemberResponse()

    async def ListMembers(  # noqa: N802
        self, request: workspace_pb2.ListMembersRequest, context: Context
    ) -> workspace_pb2.ListMembersResponse:
        tenant, _ = self.recorder.record("ListMembers", request, context)
        return workspace_pb2.ListMembersResponse(members=list(self.members.get(tenant, {}).values()))

    async def GetApprovalPolicy(  # noqa: N802
        self, request: workspace_pb2.GetApprovalPolicyRequest, context: Context
    ) -> workspace_pb2.GetApprovalPolicyResponse:
        tenant, _ = self.recorder.record("GetApprovalPolicy", request, context)
        return workspace_pb2.GetApprovalPolicyResponse(policy=self.policy(tenant))

    async def SetApprovalPolicy(  # noqa: N802
        self, request: workspace_pb2.SetApprovalPolicyRequest, context: Context
    ) -> workspace_pb2.SetApprovalPolicyResponse:
        tenant, actor = self.recorder.record("SetApprovalPolicy", request, context)
        violations = [
            FieldViolation(f"policy.steps[{i}].approvals_required", "must be 1 to 10")
            for i, step in enumerate(request.policy.steps)
            if not 1 <= step.approvals_required <= 10
        ]
        if violations:
            raise ValidationError(violations)
        self.require(tenant, actor, workspace_pb2.ROLE_ADMIN)
        self.policies[tenant] = request.policy
        return workspace_pb2.SetApprovalPolicyResponse(policy=request.policy)

    async def CreateCampaign(  # noqa: N802
        self, request: workspace_pb2.CreateCampaignRequest, context: Context
    ) -> workspace_pb2.CreateCampaignResponse:
        tenant, _ = self.recorder.record("CreateCampaign", request, context)
        if not request.name.strip():
            raise ValidationError.single("name", "must not be empty")
        campaign = content_pb2.Campaign(
            id=uuid.uuid4().hex[:10],
            tenant=tenant,
            name=request.name,
            description=request.description,
            hashtags=request.hashtags,
            links=request.links,
            utm=request.utm,
            created_at=now(),
        )
        if request.HasField("starts_at"):
            campaign.starts_at.CopyFrom(request.starts_at)
        if request.HasField("ends_at"):
            campaign.ends_at.CopyFrom(request.ends_at)
        self.campaigns[campaign.id] = campaign
        return workspace_pb2.CreateCampaignResponse(campaign=campaign)

    def _campaign(self, tenant: str, campaign_id: str) -> content_pb2.Campaign:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign.tenant != tenant:
            raise NotFoundError(f"campaign {campaign_id!r} not found")
        return campaign

    async def GetCampaign(  # noqa: N802
        self, request: workspace_pb2.GetCampaignRequest, context: Context
    ) -> workspace_pb2.GetCampaignResponse:
        tenant, _ = self.recorder.record("GetCampaign", request, context)
        return workspace_pb2.GetCampaignResponse(campaign=self._campaign(tenant, request.campaign_id))

    async def ListCampaigns(  # noqa: N802
        self, request: workspace_pb2.ListCampaignsRequest, context: Context
    ) -> workspace_pb2.ListCampaignsResponse:
        tenant, _ = self.recorder.record("ListCampaigns", request, context)
        mine = [c for c in self.campaigns.values() if c.tenant == tenant]
        items, token = page(mine, request.page_size, request.page_token)
        return workspace_pb2.ListCampaignsResponse(campaigns=items, next_page_token=token)


@dataclass
class AccountDouble(account_grpc.AccountServiceServicer):
    """Accounts per tenant; keeps the credentials it was sent (for the tests) and never returns them."""

    workspace: WorkspaceDouble
    recorder: Recorder = field(default_factory=Recorder)
    accounts: dict[tuple[str, str, str], content_pb2.Account] = field(default_factory=dict)
    credentials: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    queues: dict[tuple[str, str, str], account_pb2.PostingQueue] = field(default_factory=dict)

    @staticmethod
    def _check_ref(ref: account_pb2.AccountRef) -> None:
        violations = []
        if not ref.network:
            violations.append(FieldViolation("account.network", "must not be empty"))
        if not ref.handle:
            violations.append(FieldViolation("account.handle", "must not be empty"))
        if violations:
            raise ValidationError(violations)

    def _account(self, tenant: str, ref: account_pb2.AccountRef) -> content_pb2.Account:
        self._check_ref(ref)
        account = self.accounts.get((tenant, ref.network, ref.handle))
        if account is None:
            raise NotFoundError(f"account {ref.network}:{ref.handle} not found")
        return account

    def _store(self, tenant: str, account: content_pb2.Account, credentials: dict[str, str]) -> None:
        key = (tenant, account.network, account.handle)
        self.credentials[key] = dict(credentials)
        account.credential_fields[:] = sorted(credentials)
        account.status = content_pb2.ACCOUNT_STATUS_CONNECTED
        account.status_reason = ""
        account.updated_at.CopyFrom(now())

    async def ConnectAccount(  # noqa: N802
        self, request: account_pb2.ConnectAccountRequest, context: Context
    ) -> account_pb2.ConnectAccountResponse:
        tenant, actor = self.recorder.record("ConnectAccount", request, context)
        self._check_ref(request.account)
        if not request.credentials:
            raise ValidationError.single("credentials", "at least one credential field is required")
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        key = (tenant, request.account.network, request.account.handle)
        account = self.accounts.setdefault(
            key,
            content_pb2.Account(
                id=uuid.uuid4().hex[:10],
                tenant=tenant,
                network=request.account.network,
                handle=request.account.handle,
                connected_at=now(),
            ),
        )
        account.display_name = request.display_name or account.display_name
        self._store(tenant, account, dict(request.credentials))
        return account_pb2.ConnectAccountResponse(account=account)

    async def GetAccount(  # noqa: N802
        self, request: account_pb2.GetAccountRequest, context: Context
    ) -> account_pb2.GetAccountResponse:
        tenant, _ = self.recorder.record("GetAccount", request, context)
        return account_pb2.GetAccountResponse(account=self._account(tenant, request.account))

    async def ListAccounts(  # noqa: N802
        self, request: account_pb2.ListAccountsRequest, context: Context
    ) -> account_pb2.ListAccountsResponse:
        tenant, _ = self.recorder.record("ListAccounts", request, context)
        mine = [
            a
            for (t, network, _), a in self.accounts.items()
            if t == tenant and request.network in ("", network)
        ]
        return account_pb2.ListAccountsResponse(accounts=mine)

    async def UpdateCredentials(  # noqa: N802
        self, request: account_pb2.UpdateCredentialsRequest, context: Context
    ) -> account_pb2.UpdateCredentialsResponse:
        tenant, actor = self.recorder.record("UpdateCredentials", request, context)
        account = self._account(tenant, request.account)
        if not request.credentials:
            raise ValidationError.single("credentials", "at least one credential field is required")
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        self._store(tenant, account, dict(request.credentials))
        return account_pb2.UpdateCredentialsResponse(account=account)

    async def DisconnectAccount(  # noqa: N802
        self, request: account_pb2.DisconnectAccountRequest, context: Context
    ) -> account_pb2.DisconnectAccountResponse:
        tenant, actor = self.recorder.record("DisconnectAccount", request, context)
        account = self._account(tenant, request.account)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        self.credentials.pop((tenant, account.network, account.handle), None)
        del account.credential_fields[:]
        account.status = content_pb2.ACCOUNT_STATUS_DISCONNECTED
        return account_pb2.DisconnectAccountResponse(account=account)

    async def SetPostingQueue(  # noqa: N802
        self, request: account_pb2.SetPostingQueueRequest, context: Context
    ) -> account_pb2.SetPostingQueueResponse:
        tenant, _ = self.recorder.record("SetPostingQueue", request, context)
        account = self._account(tenant, request.account)
        violations = []
        if request.slots:
            try:
                ZoneInfo(request.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                violations.append(FieldViolation("time_zone", f"unknown time zone {request.time_zone!r}"))
        for i, slot in enumerate(request.slots):
            if not 1 <= slot.weekday <= 7:
                violations.append(FieldViolation(f"slots[{i}].weekday", "must be 1 (Monday) to 7 (Sunday)"))
        if violations:
            raise ValidationError(violations)
        upcoming = [now()] if request.slots else []
        queue = account_pb2.PostingQueue(
            account=request.account,
            time_zone=request.time_zone,
            slots=request.slots,
            upcoming_free_slots=upcoming,
        )
        self.queues[(tenant, account.network, account.handle)] = queue
        return account_pb2.SetPostingQueueResponse(queue=queue)

    async def GetPostingQueue(  # noqa: N802
        self, request: account_pb2.GetPostingQueueRequest, context: Context
    ) -> account_pb2.GetPostingQueueResponse:
        tenant, _ = self.recorder.record("GetPostingQueue", request, context)
        account = self._account(tenant, request.account)
        queue = self.queues.get(
            (tenant, account.network, account.handle), account_pb2.PostingQueue(account=request.account)
        )
        return account_pb2.GetPostingQueueResponse(queue=queue)

    async def RotateCredentialKeys(  # noqa: N802
        self, request: account_pb2.RotateCredentialKeysRequest, context: Context
    ) -> account_pb2.RotateCredentialKeysResponse:
        tenant, actor = self.recorder.record("RotateCredentialKeys", request, context)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_ADMIN)
        return account_pb2.RotateCredentialKeysResponse(rotated=len(self.credentials))


_MEDIA_TYPES = {"image/gif": content_pb2.MEDIA_TYPE_GIF}


@dataclass
class MediaDouble(media_grpc.MediaServiceServicer):
    """Stores uploads in memory; refuses chunks over 1 MiB and a size that differs from the declared one."""

    recorder: Recorder = field(default_factory=Recorder)
    stored: dict[str, media_pb2.StoredMedia] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    chunk_sizes: list[int] = field(default_factory=list)
    infos: list[media_pb2.UploadInfo] = field(default_factory=list)

    async def UploadMedia(  # noqa: N802
        self, request_iterator: AsyncIterator[media_pb2.UploadMediaRequest], context: Context
    ) -> media_pb2.UploadMediaResponse:
        info: media_pb2.UploadInfo | None = None
        body = bytearray()
        async for part in request_iterator:
            if info is None:
                if part.WhichOneof("part") != "info":
                    raise ValidationError.single("info", "the first message must carry the upload's info")
                info = part.info
                tenant, _ = self.recorder.record("UploadMedia", info, context)
                self.infos.append(info)
                continue
            if part.WhichOneof("part") != "chunk":
                raise ValidationError.single("chunk", "only chunks may follow the info")
            if len(part.chunk) > MAX_CHUNK:
                raise ValidationError.single("chunk", f"at most {MAX_CHUNK} bytes per message")
            self.chunk_sizes.append(len(part.chunk))
            body.extend(part.chunk)
        if info is None:
            raise ValidationError.single("info", "an upload needs its info")
        if len(body) != info.size_bytes:
            raise ValidationError.single(
                "info.size_bytes", f"declared {info.size_bytes} bytes but received {len(body)}"
            )
        major = info.mime_type.split("/", 1)[0]
        kind = _MEDIA_TYPES.get(info.mime_type) or {
            "image": content_pb2.MEDIA_TYPE_IMAGE,
            "video": content_pb2.MEDIA_TYPE_VIDEO,
        }.get(major)
        if kind is None:
            raise ValidationError.single("info.mime_type", f"{info.mime_type!r} is not an image or video")
        media_id = uuid.uuid4().hex[:10]
        stored = media_pb2.StoredMedia(
            item=content_pb2.MediaItem(
                id=media_id,
                type=kind,
                uri=f"media://{tenant}/{media_id}",
                mime_type=info.mime_type,
                size_bytes=len(body),
                alt_text=info.alt_text,
                width=info.width,
                height=info.height,
                duration_seconds=info.duration_seconds,
            ),
            sha256=hashlib.sha256(body).hexdigest(),
            file_name=info.file_name,
            created_at=now(),
        )
        self.stored[media_id] = stored
        self.data[media_id] = bytes(body)
        return media_pb2.UploadMediaResponse(media=stored)

    def _media(self, tenant: str, media_id: str) -> media_pb2.StoredMedia:
        media = self.stored.get(media_id)
        if media is None or not media.item.uri.startswith(f"media://{tenant}/"):
            raise NotFoundError(f"media {media_id!r} not found")
        return media

    async def GetMedia(  # noqa: N802
        self, request: media_pb2.GetMediaRequest, context: Context
    ) -> media_pb2.GetMediaResponse:
        tenant, _ = self.recorder.record("GetMedia", request, context)
        return media_pb2.GetMediaResponse(media=self._media(tenant, request.media_id))

    async def DeleteMedia(  # noqa: N802
        self, request: media_pb2.DeleteMediaRequest, context: Context
    ) -> media_pb2.DeleteMediaResponse:
        tenant, _ = self.recorder.record("DeleteMedia", request, context)
        self._media(tenant, request.media_id)
        del self.stored[request.media_id]
        del self.data[request.media_id]
        return media_pb2.DeleteMediaResponse()
