"""In-process doubles of the Resonanz gRPC services, for the CLI tests.

Small in-memory servicers that speak the real protos and run inside the sdk's real
:class:`~resonanz_sdk.grpc.GrpcServer` (real grpc.aio on loopback, real error interceptor, real tenant
and actor metadata), so the CLI is exercised over real gRPC. They answer like the real services would
for what the CLI relies on (validation with named fields, NOT_FOUND across tenants, lifecycle rules,
idempotency keys) and record every request with its tenant and actor, so tests can check what the CLI
sent. The real services have their own tests; the lead's end-to-end test runs the CLI against them.
The account, workspace and media doubles are in :mod:`cli_doubles_admin`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc.aio
import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import resonanz.listening.v1.listening_service_pb2_grpc as listening_grpc
import resonanz.publishing.v1.account_service_pb2_grpc as account_grpc
import resonanz.publishing.v1.media_service_pb2_grpc as media_grpc
import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import resonanz.publishing.v1.publishing_service_pb2_grpc as publishing_grpc
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
import resonanz.publishing.v1.workspace_service_pb2_grpc as workspace_grpc
import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import resonanz.scoring.v1.scoring_service_pb2_grpc as scoring_grpc
from cli_doubles_admin import AccountDouble, MediaDouble, Recorder, WorkspaceDouble
from cli_doubles_listening import ListeningCollectionDouble
from cli_doubles_scoring import ScoringInsightsDouble
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2, mention_pb2, score_pb2
from resonanz_sdk.errors import (
    FailedPreconditionError,
    FieldViolation,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from resonanz_sdk.grpc import GrpcServer, actor_of, tenant_of
from typer.testing import Result

Context = grpc.aio.ServicerContext[Any, Any]
#: The ``cli`` fixture: ``await cli("posts", "list", env={...})`` runs ``resonanz`` and returns the result.
RunCli = Callable[..., Awaitable[Result]]
#: The login name the ``cli`` fixture runs under: the actor when neither --as nor RESONANZ_ACTOR is set.
LOGIN_NAME = "cli-tester"
KNOWN_NETWORKS = frozenset({"simulated"})
FINAL = frozenset(
    {
        content_pb2.POST_STATUS_PUBLISHED,
        content_pb2.POST_STATUS_PARTLY_PUBLISHED,
        content_pb2.POST_STATUS_FAILED,
        content_pb2.POST_STATUS_CANCELLED,
    }
)


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def _page(items: list[Any], page_size: int, token: str) -> tuple[list[Any], str]:
    start = int(token or "0")
    size = page_size or 50
    end = start + size
    return items[start:end], (str(end) if end < len(items) else "")


_FINAL_TARGETS = frozenset(
    {
        content_pb2.TARGET_STATUS_PUBLISHED,
        content_pb2.TARGET_STATUS_FAILED,
        content_pb2.TARGET_STATUS_CANCELLED,
    }
)
#: The trailer of CreatePost / ReplyToMention: was the idempotency key used before?
REPLAYED_METADATA_KEY = "x-resonanz-replayed"
#: How far in the past a requested time may be (the real service's allowance for clock skew).
MAX_PAST = timedelta(seconds=60)
#: What the double's "simulated" network allows, so that a too long text is refused like a manifest would.
SIMULATED_MAX_TEXT = 280


def _local_to_utc(local: publishing_pb2.LocalDateTime) -> Timestamp:
    moment = datetime.fromisoformat(local.date_time).replace(tzinfo=ZoneInfo(local.time_zone))
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


@dataclass
class PublishingDouble(publishing_grpc.PublishingServiceServicer):
    """Posts in memory with the lifecycle of the real service: draft, review by the workspace's policy
    (roles, four eyes), scheduled, cancelled, deleted from the network; comments and an audit log.

    WatchPost walks a post through publishing to published. Like the real service, CreatePost and
    ReplyToMention answer with the trailer ``x-resonanz-replayed: true|false`` (was the idempotency
    key used before?) and posts carry their ``schedule_mode`` and ``time_zone``; ``legacy`` plays a
    server from before both (no trailer, mode unspecified). For the CSV import it can slow CreatePost
    down (``create_delay``) and counts the calls in flight; ``unavailable_after`` makes it answer
    UNAVAILABLE after that many creates; ``clock_skew`` shifts the ``created_at`` of new posts (a
    server clock that is off).
    """

    workspace: WorkspaceDouble = field(default_factory=WorkspaceDouble)
    media: MediaDouble | None = None
    recorder: Recorder = field(default_factory=Recorder)
    posts: dict[str, content_pb2.Post] = field(default_factory=dict)
    tenants: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    list_requests: list[publishing_pb2.ListPostsRequest] = field(default_factory=list)
    comments: dict[str, list[publishing_pb2.Comment]] = field(default_factory=dict)
    audit: list[publishing_pb2.AuditEvent] = field(default_factory=list)
    create_delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    unavailable_after: int | None = None
    legacy: bool = False
    clock_skew: timedelta = timedelta(0)

    def _replayed(self, context: Context, replayed: bool) -> None:
        if not self.legacy:
            context.set_trailing_metadata(((REPLAYED_METADATA_KEY, "true" if replayed else "false"),))

    def _existing(self, tenant: str, key: str) -> content_pb2.Post | None:
        """The tenant's post made with idempotency key ``key`` (``None`` for an empty key)."""
        return next(
            (p for p in self.posts.values() if key and (p.tenant, p.idempotency_key) == (tenant, key)), None
        )

    def _created_now(self) -> Timestamp:
        ts = Timestamp()
        ts.FromDatetime(datetime.now(UTC) + self.clock_skew)
        return ts

    def _tenant(self, context: Context, method: str = "", request: Any = None) -> str:
        tenant = tenant_of(context)
        self.tenants.append(tenant)
        self.actors.append(actor_of(context))
        if method:
            self.recorder.record(method, request, context)
        return tenant

    def _get(self, tenant: str, post_id: str) -> content_pb2.Post:
        post = self.posts.get(post_id)
        if post is None or post.tenant != tenant:
            raise NotFoundError(f"post {post_id!r} not found")
        return post

    def _audit(
        self,
        post: content_pb2.Post,
        actor: str,
        action: str,
        before: content_pb2.PostStatus.ValueType,
        detail: str = "",
    ) -> None:
        self.audit.append(
            publishing_pb2.AuditEvent(
                id=str(len(self.audit) + 1),
                post_id=post.id,
                actor=actor,
                action=action,
                from_status=before,
                to_status=post.status,
                detail=detail,
                at=_now(),
            )
        )

    def _validate(self, request: publishing_pb2.CreatePostRequest, field_prefix: str = "") -> None:
        violations = []
        networks = {t.network for t in request.targets}
        if not request.text.strip():
            violations.append(FieldViolation(f"{field_prefix}text", "must not be empty"))
        elif "simulated" in networks and len(request.text) > SIMULATED_MAX_TEXT:
            violations.append(
                FieldViolation(
                    f"{field_prefix}text",
                    f"is {len(request.text)} characters as simulated counts them; "
                    f"simulated allows {SIMULATED_MAX_TEXT}",
                )
            )
        if not request.targets:
            violations.append(FieldViolation(f"{field_prefix}targets", "at least one target is required"))
        for i, target in enumerate(request.targets):
            if target.network not in KNOWN_NETWORKS:
                violations.append(
                    FieldViolation(
                        f"{field_prefix}targets[{i}].network", f"no plugin provides {target.network!r}"
                    )
                )
        for i, variant in enumerate(request.variants):
            if variant.network not in networks:
                violations.append(
                    FieldViolation(f"{field_prefix}variants[{i}].network", "is not a target network")
                )
        for i, item in enumerate(request.media):
            if self.media is not None and item.id not in self.media.stored:
                violations.append(FieldViolation(f"{field_prefix}media[{i}].id", f"no media {item.id!r}"))
        violations.extend(self._schedule_violations(request, field_prefix))
        if violations:
            raise ValidationError(violations)

    @staticmethod
    def _schedule_violations(
        request: publishing_pb2.CreatePostRequest, field_prefix: str
    ) -> list[FieldViolation]:
        violations = []
        ways = [request.HasField("scheduled_at"), request.HasField("local_time"), request.next_free_slot]
        if sum(ways) > 1:
            violations.append(
                FieldViolation(
                    f"{field_prefix}scheduled_at", "at most one of scheduled_at, local_time, next_free_slot"
                )
            )
        at_field, at = f"{field_prefix}scheduled_at", request.scheduled_at
        if request.HasField("local_time"):
            try:
                ZoneInfo(request.local_time.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                violations.append(FieldViolation(f"{field_prefix}local_time.time_zone", "unknown time zone"))
                return violations
            at_field, at = f"{field_prefix}local_time.date_time", _local_to_utc(request.local_time)
        # like the real service: a time more than a minute ago is refused
        timed = request.HasField("scheduled_at") or request.HasField("local_time")
        if timed and at.ToDatetime(tzinfo=UTC) < datetime.now(UTC) - MAX_PAST:
            violations.append(FieldViolation(at_field, "is in the past"))
        return violations

    def _fill(self, post: content_pb2.Post, request: publishing_pb2.CreatePostRequest) -> None:
        """Content and schedule of ``request`` onto ``post`` (create and update)."""
        post.text = request.text
        post.campaign_id = request.campaign_id
        post.labels[:] = request.labels
        del post.media[:]
        for item in request.media:
            stored = self.media.stored.get(item.id) if self.media is not None else None
            post.media.append(stored.item if stored is not None else item)
        del post.variants[:]
        post.variants.extend(request.variants)
        post.utm.CopyFrom(request.utm)
        post.ClearField("scheduled_at")
        del post.targets[:]
        for t in request.targets:
            target = content_pb2.PostTarget(
                network=t.network, account=t.account, status=content_pb2.TARGET_STATUS_PENDING
            )
            if request.next_free_slot:  # a queue slot per account: Monday 08:00Z, a week apart
                week = len(post.targets)
                target.scheduled_at.FromDatetime(datetime(2030, 1, 7 + 7 * week, 8, 0, tzinfo=UTC))
            post.targets.append(target)
        # like the real service: the post's time is the requested one, its targets' first queue slot,
        # or now (as soon as possible)
        mode, post.time_zone = content_pb2.SCHEDULE_MODE_AT, ""
        if request.HasField("scheduled_at"):
            post.scheduled_at.CopyFrom(request.scheduled_at)
        elif request.HasField("local_time"):
            post.scheduled_at.CopyFrom(_local_to_utc(request.local_time))
            post.time_zone = request.local_time.time_zone
        elif request.next_free_slot:
            mode = content_pb2.SCHEDULE_MODE_NEXT_FREE_SLOT
            post.scheduled_at.CopyFrom(
                min((t.scheduled_at for t in post.targets), key=lambda ts: ts.ToNanoseconds())
            )
        else:
            mode = content_pb2.SCHEDULE_MODE_NOW
            post.scheduled_at.CopyFrom(_now())
        post.schedule_mode = mode
        if self.legacy:
            post.ClearField("schedule_mode")
            post.ClearField("time_zone")
        post.updated_at.CopyFrom(_now())

    def _into_review_or_scheduled(self, post: content_pb2.Post) -> None:
        steps = len(self.workspace.policy(post.tenant).steps)
        del post.approvals[:]
        post.approval_steps = steps
        post.status = content_pb2.POST_STATUS_IN_REVIEW if steps else content_pb2.POST_STATUS_SCHEDULED

    async def CreatePost(  # noqa: N802
        self, request: publishing_pb2.CreatePostRequest, context: Context
    ) -> publishing_pb2.CreatePostResponse:
        tenant = self._tenant(context, "CreatePost", request)
        actor = actor_of(context)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.create_delay:
                await asyncio.sleep(self.create_delay)
            if (
                self.unavailable_after is not None
                and len(self.recorder.requests("CreatePost")) > self.unavailable_after
            ):
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the publishing service is shutting down")
            self._validate(request)
            self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
            existing = self._existing(tenant, request.idempotency_key)
            if existing is not None:
                self._replayed(context, True)
                return publishing_pb2.CreatePostResponse(post=existing)
            post = content_pb2.Post(
                id=uuid.uuid4().hex[:12],
                tenant=tenant,
                created_at=self._created_now(),
                idempotency_key=request.idempotency_key,
                created_by=actor,
                status=content_pb2.POST_STATUS_DRAFT,
            )
            self._fill(post, request)
            if not request.draft:
                self._into_review_or_scheduled(post)
            self.posts[post.id] = post
            self._audit(post, actor, "created", content_pb2.POST_STATUS_UNSPECIFIED)
            self._replayed(context, False)
            return publishing_pb2.CreatePostResponse(post=post)
        finally:
            self.in_flight -= 1

    async def GetPost(  # noqa: N802
        self, request: publishing_pb2.GetPostRequest, context: Context
    ) -> publishing_pb2.GetPostResponse:
        return publishing_pb2.GetPostResponse(
            post=self._get(self._tenant(context, "GetPost", request), request.post_id)
        )

    @staticmethod
    def _listed(post: content_pb2.Post, request: publishing_pb2.ListPostsRequest) -> bool:
        if request.status not in (content_pb2.POST_STATUS_UNSPECIFIED, post.status):
            return False
        if request.label and request.label not in post.labels:
            return False
        if request.campaign_id and request.campaign_id != post.campaign_id:
            return False
        if request.network and not any(
            t.network == request.network and request.account in ("", t.account) for t in post.targets
        ):
            return False
        when = post.scheduled_at.ToNanoseconds()
        if request.HasField("scheduled_from") and when < request.scheduled_from.ToNanoseconds():
            return False
        return not (request.HasField("scheduled_to") and when >= request.scheduled_to.ToNanoseconds())

    async def ListPosts(  # noqa: N802
        self, request: publishing_pb2.ListPostsRequest, context: Context
    ) -> publishing_pb2.ListPostsResponse:
        tenant = self._tenant(context, "ListPosts", request)
        self.list_requests.append(request)
        posts = [p for p in reversed(self.posts.values()) if p.tenant == tenant and self._listed(p, request)]
        page, token = _page(posts, request.page_size, request.page_token)
        return publishing_pb2.ListPostsResponse(posts=page, next_page_token=token)

    async def WatchPost(  # noqa: N802
        self, request: publishing_pb2.WatchPostRequest, context: Context
    ) -> AsyncIterator[publishing_pb2.WatchPostResponse]:
        post = self._get(self._tenant(context, "WatchPost", request), request.post_id)
        yield publishing_pb2.WatchPostResponse(post=post)
        if post.status in FINAL:
            return
        for status, target_status in (
            (content_pb2.POST_STATUS_PUBLISHING, content_pb2.TARGET_STATUS_PUBLISHING),
            (content_pb2.POST_STATUS_PUBLISHED, content_pb2.TARGET_STATUS_PUBLISHED),
        ):
            await asyncio.sleep(0.02)
            post.status = status
            post.updated_at.CopyFrom(_now())
            for target in post.targets:
                target.status = target_status
                target.attempts = 1
                if target_status == content_pb2.TARGET_STATUS_PUBLISHED:
                    target.external_id = f"ext-{post.id}"
                    target.url = f"https://{target.network}.example/{target.account}/{post.id}"
                    target.published_at.CopyFrom(_now())
            yield publishing_pb2.WatchPostResponse(post=post)

    async def UpdatePost(  # noqa: N802
        self, request: publishing_pb2.UpdatePostRequest, context: Context
    ) -> publishing_pb2.UpdatePostResponse:
        tenant = self._tenant(context, "UpdatePost", request)
        actor = actor_of(context)
        post = self._get(tenant, request.post_id)
        self._validate(request.post, "post.")
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        if post.status in FINAL or any(t.status != content_pb2.TARGET_STATUS_PENDING for t in post.targets):
            raise FailedPreconditionError(f"post {post.id} has started publishing and cannot be changed")
        before = post.status
        self._fill(post, request.post)
        if before in (
            content_pb2.POST_STATUS_IN_REVIEW,
            content_pb2.POST_STATUS_APPROVED,
            content_pb2.POST_STATUS_SCHEDULED,
        ):
            self._into_review_or_scheduled(post)
        self._audit(post, actor, "updated", before)
        return publishing_pb2.UpdatePostResponse(post=post)

    async def SubmitPost(  # noqa: N802
        self, request: publishing_pb2.SubmitPostRequest, context: Context
    ) -> publishing_pb2.SubmitPostResponse:
        tenant = self._tenant(context, "SubmitPost", request)
        actor = actor_of(context)
        post = self._get(tenant, request.post_id)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        if post.status != content_pb2.POST_STATUS_DRAFT:
            raise FailedPreconditionError(f"post {post.id} is not a draft")
        self._into_review_or_scheduled(post)
        self._audit(post, actor, "submitted", content_pb2.POST_STATUS_DRAFT)
        return publishing_pb2.SubmitPostResponse(post=post)

    async def ApprovePost(  # noqa: N802
        self, request: publishing_pb2.ApprovePostRequest, context: Context
    ) -> publishing_pb2.ApprovePostResponse:
        tenant = self._tenant(context, "ApprovePost", request)
        actor = actor_of(context)
        post = self._get(tenant, request.post_id)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_APPROVER)
        if post.status != content_pb2.POST_STATUS_IN_REVIEW:
            raise FailedPreconditionError(f"post {post.id} is not in review")
        policy = self.workspace.policy(tenant)
        if actor == post.created_by and not policy.allow_self_approval:
            raise PermissionDeniedError("the author may not approve their own post (four eyes)")
        step = 0
        while step < len(policy.steps):
            approvers = {a.approver for a in post.approvals if a.step == step}
            if len(approvers) < policy.steps[step].approvals_required:
                break
            step += 1
        if any(a.step == step and a.approver == actor for a in post.approvals):
            raise FailedPreconditionError(f"{actor} has already approved this step")
        post.approvals.append(
            content_pb2.Approval(step=step, approver=actor, approved_at=_now(), note=request.note)
        )
        approvers = {a.approver for a in post.approvals if a.step == step}
        if step == len(policy.steps) - 1 and len(approvers) >= policy.steps[step].approvals_required:
            post.status = content_pb2.POST_STATUS_SCHEDULED
        self._audit(post, actor, "approved", content_pb2.POST_STATUS_IN_REVIEW, request.note)
        return publishing_pb2.ApprovePostResponse(post=post)

    async def RejectPost(  # noqa: N802
        self, request: publishing_pb2.RejectPostRequest, context: Context
    ) -> publishing_pb2.RejectPostResponse:
        tenant = self._tenant(context, "RejectPost", request)
        actor = actor_of(context)
        if not request.reason.strip():
            raise ValidationError.single("reason", "must not be empty: say what to change")
        post = self._get(tenant, request.post_id)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_APPROVER)
        if post.status != content_pb2.POST_STATUS_IN_REVIEW:
            raise FailedPreconditionError(f"post {post.id} is not in review")
        post.status = content_pb2.POST_STATUS_DRAFT
        del post.approvals[:]
        self._comment(post, actor, request.reason)
        self._audit(post, actor, "rejected", content_pb2.POST_STATUS_IN_REVIEW, request.reason)
        return publishing_pb2.RejectPostResponse(post=post)

    async def CancelPost(  # noqa: N802
        self, request: publishing_pb2.CancelPostRequest, context: Context
    ) -> publishing_pb2.CancelPostResponse:
        tenant = self._tenant(context, "CancelPost", request)
        actor = actor_of(context)
        post = self._get(tenant, request.post_id)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        if post.status in FINAL:
            raise FailedPreconditionError(f"post {post.id} is already final")
        before = post.status
        for target in post.targets:
            if target.status == content_pb2.TARGET_STATUS_PENDING:
                target.status = content_pb2.TARGET_STATUS_CANCELLED
        post.status = content_pb2.POST_STATUS_CANCELLED
        self._audit(post, actor, "cancelled", before, request.reason)
        return publishing_pb2.CancelPostResponse(post=post)

    def _comment(self, post: content_pb2.Post, actor: str, text: str) -> publishing_pb2.Comment:
        comments = self.comments.setdefault(post.id, [])
        comment = publishing_pb2.Comment(
            id=f"{post.id}-{len(comments) + 1}", post_id=post.id, author=actor, text=text, created_at=_now()
        )
        comments.append(comment)
        return comment

    async def AddComment(  # noqa: N802
        self, request: publishing_pb2.AddCommentRequest, context: Context
    ) -> publishing_pb2.AddCommentResponse:
        tenant = self._tenant(context, "AddComment", request)
        actor = actor_of(context)
        if not request.text.strip():
            raise ValidationError.single("text", "must not be empty")
        post = self._get(tenant, request.post_id)
        comment = self._comment(post, actor, request.text)
        self._audit(post, actor, "commented", post.status)
        return publishing_pb2.AddCommentResponse(comment=comment)

    async def ListComments(  # noqa: N802
        self, request: publishing_pb2.ListCommentsRequest, context: Context
    ) -> publishing_pb2.ListCommentsResponse:
        post = self._get(self._tenant(context, "ListComments", request), request.post_id)
        return publishing_pb2.ListCommentsResponse(comments=self.comments.get(post.id, []))

    async def ListAuditEvents(  # noqa: N802
        self, request: publishing_pb2.ListAuditEventsRequest, context: Context
    ) -> publishing_pb2.ListAuditEventsResponse:
        tenant = self._tenant(context, "ListAuditEvents", request)
        if request.post_id:
            self._get(tenant, request.post_id)
        events = [
            e
            for e in self.audit
            if self.posts[e.post_id].tenant == tenant and request.post_id in ("", e.post_id)
        ]
        page, token = _page(events, request.page_size or 100, request.page_token)
        return publishing_pb2.ListAuditEventsResponse(events=page, next_page_token=token)

    async def DeletePublishedPost(  # noqa: N802
        self, request: publishing_pb2.DeletePublishedPostRequest, context: Context
    ) -> publishing_pb2.DeletePublishedPostResponse:
        tenant = self._tenant(context, "DeletePublishedPost", request)
        actor = actor_of(context)
        post = self._get(tenant, request.post_id)
        wanted = {(t.network, t.account) for t in request.targets}
        chosen = [t for t in post.targets if not wanted or (t.network, t.account) in wanted]
        unknown = wanted - {(t.network, t.account) for t in post.targets}
        if unknown:
            raise ValidationError(
                [
                    FieldViolation(f"targets[{i}]", "is not a target of the post")
                    for i, t in enumerate(request.targets)
                    if (t.network, t.account) in unknown
                ]
            )
        published = [
            t
            for t in chosen
            if t.status == content_pb2.TARGET_STATUS_PUBLISHED and not t.HasField("deleted_at")
        ]
        if not published:
            raise FailedPreconditionError(f"post {post.id} has no published target to delete")
        for target in published:
            target.deleted_at.CopyFrom(_now())
        self._audit(
            post, actor, "deleted", post.status, ", ".join(f"{t.network}:{t.account}" for t in published)
        )
        return publishing_pb2.DeletePublishedPostResponse(post=post)

    async def ReplyToMention(  # noqa: N802
        self, request: publishing_pb2.ReplyToMentionRequest, context: Context
    ) -> publishing_pb2.ReplyToMentionResponse:
        tenant = self._tenant(context, "ReplyToMention", request)
        actor = actor_of(context)
        violations = []
        if request.network not in KNOWN_NETWORKS:
            violations.append(FieldViolation("network", f"no plugin provides {request.network!r}"))
        if not request.in_reply_to:
            violations.append(FieldViolation("in_reply_to", "must not be empty"))
        if not request.text.strip():
            violations.append(FieldViolation("text", "must not be empty"))
        if violations:
            raise ValidationError(violations)
        self.workspace.require(tenant, actor, workspace_pb2.ROLE_EDITOR)
        existing = self._existing(tenant, request.idempotency_key)
        if existing is not None:
            self._replayed(context, True)
            return publishing_pb2.ReplyToMentionResponse(post=existing)
        post = content_pb2.Post(
            id=uuid.uuid4().hex[:12],
            tenant=tenant,
            text=request.text,
            targets=[
                content_pb2.PostTarget(
                    network=request.network, account=request.account, status=content_pb2.TARGET_STATUS_PENDING
                )
            ],
            media=request.media,
            status=content_pb2.POST_STATUS_SCHEDULED,
            scheduled_at=_now(),
            created_at=self._created_now(),
            updated_at=_now(),
            idempotency_key=request.idempotency_key,
            created_by=actor,
            in_reply_to=request.in_reply_to,
            schedule_mode=content_pb2.SCHEDULE_MODE_UNSPECIFIED
            if self.legacy
            else content_pb2.SCHEDULE_MODE_NOW,
        )
        self.posts[post.id] = post
        self._audit(
            post, actor, "created", content_pb2.POST_STATUS_UNSPECIFIED, f"reply to {request.in_reply_to}"
        )
        self._replayed(context, False)
        return publishing_pb2.ReplyToMentionResponse(post=post)


def make_mention(seq: int, *, label: str = "acme", network: str = "simulated") -> mention_pb2.Mention:
    return mention_pb2.Mention(
        id=f"{network}:{seq}",
        network=network,
        external_id=str(seq),
        author=mention_pb2.Author(handle=f"user{seq}", followers=100 * seq),
        text=f"mention number {seq} about {label}",
        labels=[label],
        published_at=_now(),
        engagement=mention_pb2.EngagementCounts(likes=seq, shares=seq // 2),
    )


@dataclass
class ListeningDouble(ListeningCollectionDouble, listening_grpc.ListeningServiceServicer):
    """Queries in memory; StreamMentions replays stored mentions and then produces new ones forever.

    UpdateQuery, GetQueryStatus and the Backfill RPCs come from :class:`ListeningCollectionDouble`.
    """

    queries: dict[str, mention_pb2.ListeningQuery] = field(default_factory=dict)
    mentions: list[mention_pb2.Mention] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    stream_requests: list[listening_pb2.StreamMentionsRequest] = field(default_factory=list)
    streams_open: int = 0
    streams_cancelled: int = 0
    search_requests: list[listening_pb2.SearchMentionsRequest] = field(default_factory=list)

    def _tenant(self, context: Context) -> str:
        tenant = tenant_of(context)
        self.tenants.append(tenant)
        return tenant

    async def CreateQuery(  # noqa: N802
        self, request: listening_pb2.CreateQueryRequest, context: Context
    ) -> listening_pb2.CreateQueryResponse:
        tenant = self._tenant(context)
        violations = []
        if not request.expression.strip():
            violations.append(FieldViolation("expression", "must not be empty"))
        if not request.label.strip():
            violations.append(FieldViolation("label", "must not be empty"))
        if violations:
            raise ValidationError(violations)
        query = mention_pb2.ListeningQuery(
            id=uuid.uuid4().hex[:8],
            tenant=tenant,
            name=request.name,
            expression=request.expression,
            languages=request.languages,
            networks=request.networks,
            label=request.label,
            role=request.role,
            enabled=True,
            created_at=_now(),
        )
        self.queries[query.id] = query
        return listening_pb2.CreateQueryResponse(query=query)

    async def GetQuery(  # noqa: N802
        self, request: listening_pb2.GetQueryRequest, context: Context
    ) -> listening_pb2.GetQueryResponse:
        tenant = self._tenant(context)
        query = self.queries.get(request.query_id)
        if query is None or query.tenant != tenant:
            raise NotFoundError(f"query {request.query_id!r} not found")
        return listening_pb2.GetQueryResponse(query=query)

    async def ListQueries(  # noqa: N802
        self, request: listening_pb2.ListQueriesRequest, context: Context
    ) -> listening_pb2.ListQueriesResponse:
        tenant = self._tenant(context)
        mine = [q for q in self.queries.values() if q.tenant == tenant]
        page, token = _page(mine, request.page_size, request.page_token)
        return listening_pb2.ListQueriesResponse(queries=page, next_page_token=token)

    async def DeleteQuery(  # noqa: N802
        self, request: listening_pb2.DeleteQueryRequest, context: Context
    ) -> listening_pb2.DeleteQueryResponse:
        tenant = self._tenant(context)
        query = self.queries.get(request.query_id)
        if query is None or query.tenant != tenant:
            raise NotFoundError(f"query {request.query_id!r} not found")
        del self.queries[request.query_id]
        return listening_pb2.DeleteQueryResponse()

    def _matches(self, mention: mention_pb2.Mention, request: listening_pb2.StreamMentionsRequest) -> bool:
        if request.labels and not set(request.labels) & set(mention.labels):
            return False
        return not request.networks or mention.network in request.networks

    async def StreamMentions(  # noqa: N802
        self, request: listening_pb2.StreamMentionsRequest, context: Context
    ) -> AsyncIterator[listening_pb2.StreamMentionsResponse]:
        self._tenant(context)
        self.stream_requests.append(request)
        position = int(request.cursor or "0")
        self.streams_open += 1
        try:
            while True:
                while position >= len(self.mentions):  # live: the network keeps talking
                    await asyncio.sleep(0.005)
                    self.mentions.append(make_mention(len(self.mentions) + 1))
                mention = self.mentions[position]
                position += 1
                if self._matches(mention, request):
                    yield listening_pb2.StreamMentionsResponse(mention=mention, cursor=f"{position:012d}")
        except asyncio.CancelledError:
            self.streams_cancelled += 1
            raise
        finally:
            self.streams_open -= 1

    async def SearchMentions(  # noqa: N802
        self, request: listening_pb2.SearchMentionsRequest, context: Context
    ) -> listening_pb2.SearchMentionsResponse:
        self._tenant(context)
        self.search_requests.append(request)
        if not request.text.strip():
            raise ValidationError.single("text", "must not be empty")
        found = [
            m
            for m in self.mentions
            if request.text.lower() in m.text.lower()
            and (not request.labels or set(request.labels) & set(m.labels))
        ]
        page, token = _page(found, request.page_size, request.page_token)
        return listening_pb2.SearchMentionsResponse(mentions=page, next_page_token=token)


@dataclass
class ScoringDouble(ScoringInsightsDouble, scoring_grpc.ScoringServiceServicer):
    """Brand scores computed from the scored mentions it holds, over the window the caller asks for."""

    scored: list[scoring_pb2.ScoredMention] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)

    async def GetBrandScores(  # noqa: N802
        self, request: scoring_pb2.GetBrandScoresRequest, context: Context
    ) -> scoring_pb2.GetBrandScoresResponse:
        tenant = tenant_of(context)
        self.tenants.append(tenant)
        window = request.window.ToTimedelta() if request.HasField("window") else None
        self.windows.append(window.total_seconds() if window is not None else 0.0)
        mine = [s for s in self.scored if request.label in s.mention.labels]
        if not mine:
            raise NotFoundError(f"no scores for label {request.label!r}")
        sentiments = [s.score.sentiment for s in mine]
        positive = sentiments.count(score_pb2.SENTIMENT_POSITIVE)
        negative = sentiments.count(score_pb2.SENTIMENT_NEGATIVE)
        hashtags: dict[str, int] = {}
        for s in mine:
            for tag in s.mention.hashtags:
                hashtags[tag] = hashtags.get(tag, 0) + 1
        scores = score_pb2.BrandScores(
            tenant=tenant,
            label=request.label,
            window_end=_now(),
            mention_count=len(mine),
            positive_count=positive,
            neutral_count=sentiments.count(score_pb2.SENTIMENT_NEUTRAL),
            negative_count=negative,
            net_sentiment=(positive - negative) / len(mine),
            total_reach=sum(s.score.estimated_reach for s in mine),
            total_engagement=sum(s.score.engagement for s in mine),
            reputation_index=12.5,
            share_of_voice=len(mine) / len(self.scored),
            top_hashtags=[
                score_pb2.TermCount(term=t, count=c) for t, c in sorted(hashtags.items(), key=lambda i: -i[1])
            ],
            top_authors=[score_pb2.TermCount(term="@" + s.mention.author.handle, count=1) for s in mine[:3]],
        )
        return scoring_pb2.GetBrandScoresResponse(scores=scores)

    async def ListScoredMentions(  # noqa: N802
        self, request: scoring_pb2.ListScoredMentionsRequest, context: Context
    ) -> scoring_pb2.ListScoredMentionsResponse:
        self.tenants.append(tenant_of(context))
        mine = [s for s in self.scored if request.label in s.mention.labels]
        page, token = _page(mine, request.page_size, request.page_token)
        return scoring_pb2.ListScoredMentionsResponse(mentions=page, next_page_token=token)


@dataclass
class Platform:
    """The three doubles behind one real gRPC server, and the environment that points the CLI at it."""

    publishing: PublishingDouble
    listening: ListeningDouble
    scoring: ScoringDouble
    accounts: AccountDouble
    workspace: WorkspaceDouble
    media: MediaDouble
    server: GrpcServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "RESONANZ_PUBLISHING_ADDR": self.address,
            "RESONANZ_LISTENING_ADDR": self.address,
            "RESONANZ_SCORING_ADDR": self.address,
        }


async def start_platform() -> Platform:
    workspace, media = WorkspaceDouble(), MediaDouble()
    accounts = AccountDouble(workspace=workspace)
    publishing = PublishingDouble(workspace=workspace, media=media)
    listening, scoring = ListeningDouble(), ScoringDouble()

    def register(server: grpc.aio.Server) -> None:
        publishing_grpc.add_PublishingServiceServicer_to_server(publishing, server)
        listening_grpc.add_ListeningServiceServicer_to_server(listening, server)
        scoring_grpc.add_ScoringServiceServicer_to_server(scoring, server)
        account_grpc.add_AccountServiceServicer_to_server(accounts, server)
        workspace_grpc.add_WorkspaceServiceServicer_to_server(workspace, server)
        media_grpc.add_MediaServiceServicer_to_server(media, server)

    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[
            "resonanz.publishing.v1.PublishingService",
            "resonanz.listening.v1.ListeningService",
            "resonanz.scoring.v1.ScoringService",
            "resonanz.publishing.v1.AccountService",
            "resonanz.publishing.v1.WorkspaceService",
            "resonanz.publishing.v1.MediaService",
        ],
        register=register,
        name="cli-test",
    )
    await server.start()
    return Platform(publishing, listening, scoring, accounts, workspace, media, server)
