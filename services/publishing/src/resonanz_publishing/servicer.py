"""The gRPC API: ``resonanz.publishing.v1.PublishingService``.

Every method takes the tenant from the call's metadata, validates its request (INVALID_ARGUMENT with
field violations, nothing written) and sees only the tenant's posts (another tenant's post is
NOT_FOUND). Errors are mapped to status codes by the sdk's error interceptor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from resonanz.common.v1.content_pb2 import PostStatus
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_sdk.errors import FieldViolation, ValidationError
from resonanz_sdk.grpc import Validator, actor_of, page_token, tenant_of

from resonanz_publishing.access import AccessControl, Permission
from resonanz_publishing.audit import AuditLog, audit_event_to_proto
from resonanz_publishing.comments import CommentStore, check_comment_text, comment_to_proto
from resonanz_publishing.convert import from_timestamp
from resonanz_publishing.notifier import ChangeNotifier, wait_for_change
from resonanz_publishing.status import is_final_post_status
from resonanz_publishing.store import PageCursor, PostFilter, PostStore
from resonanz_publishing.validation import MAX_ACCOUNT_LENGTH, MAX_ID_LENGTH, MAX_LABEL_LENGTH
from resonanz_publishing.workflow import PostWorkflow

Context = grpc.aio.ServicerContext[Any, Any]

MAX_PAGE_SIZE = 500
MAX_POST_ID_LENGTH = 64
MAX_REASON_LENGTH = 5000
AUDIT_PAGE_SIZE = 100


class PublishingServicer(pb_grpc.PublishingServiceServicer):
    def __init__(
        self,
        *,
        store: PostStore,
        workflow: PostWorkflow,
        access: AccessControl,
        comments: CommentStore,
        audit: AuditLog,
        notifier: ChangeNotifier,
        watch_poll_interval: float,
    ) -> None:
        self._store = store
        self._workflow = workflow
        self._access = access
        self._comments = comments
        self._audit = audit
        self._notifier = notifier
        self._watch_poll_interval = watch_poll_interval

    async def _actor(self, context: Context, permission: Permission) -> tuple[str, str]:
        tenant = tenant_of(context)
        actor = actor_of(context)
        await self._access.require(tenant, actor, permission)
        return tenant, actor

    async def CreatePost(self, request: pb.CreatePostRequest, context: Context) -> pb.CreatePostResponse:  # noqa: N802 - gRPC method name
        tenant, actor = await self._actor(context, Permission.EDIT)
        post, created = await self._workflow.create(tenant, actor, request)
        _mark_replayed(context, created)
        return pb.CreatePostResponse(post=post)

    async def UpdatePost(self, request: pb.UpdatePostRequest, context: Context) -> pb.UpdatePostResponse:  # noqa: N802 - gRPC method name
        _check_post_id(request.post_id)
        tenant, actor = await self._actor(context, Permission.EDIT)
        try:
            post = await self._workflow.update(tenant, actor, request.post_id, request.post)
        except ValidationError as exc:
            raise ValidationError(
                FieldViolation(f"post.{v.field}", v.description) for v in exc.violations
            ) from None
        return pb.UpdatePostResponse(post=post)

    async def SubmitPost(self, request: pb.SubmitPostRequest, context: Context) -> pb.SubmitPostResponse:  # noqa: N802 - gRPC method name
        _check_post_id(request.post_id)
        tenant, actor = await self._actor(context, Permission.EDIT)
        return pb.SubmitPostResponse(post=await self._workflow.submit(tenant, actor, request.post_id))

    async def ApprovePost(self, request: pb.ApprovePostRequest, context: Context) -> pb.ApprovePostResponse:  # noqa: N802 - gRPC method name
        v = _post_id_validator(request.post_id)
        v.max_length(request.note, MAX_REASON_LENGTH, "note")
        v.check()
        tenant, actor = await self._actor(context, Permission.APPROVE)
        post = await self._workflow.approve(tenant, actor, request.post_id, request.note)
        return pb.ApprovePostResponse(post=post)

    async def RejectPost(self, request: pb.RejectPostRequest, context: Context) -> pb.RejectPostResponse:  # noqa: N802 - gRPC method name
        v = _post_id_validator(request.post_id)
        check_comment_text(v, request.reason, "reason")
        v.check()
        tenant, actor = await self._actor(context, Permission.APPROVE)
        post = await self._workflow.reject(tenant, actor, request.post_id, request.reason)
        return pb.RejectPostResponse(post=post)

    async def CancelPost(self, request: pb.CancelPostRequest, context: Context) -> pb.CancelPostResponse:  # noqa: N802 - gRPC method name
        v = _post_id_validator(request.post_id)
        v.max_length(request.reason, MAX_REASON_LENGTH, "reason")
        v.check()
        tenant, actor = await self._actor(context, Permission.EDIT)
        post = await self._workflow.cancel(tenant, actor, request.post_id, request.reason)
        return pb.CancelPostResponse(post=post)

    async def AddComment(self, request: pb.AddCommentRequest, context: Context) -> pb.AddCommentResponse:  # noqa: N802 - gRPC method name
        v = _post_id_validator(request.post_id)
        check_comment_text(v, request.text)
        v.check()
        # Approvers and admins hold EDIT too (roles are ordered), so reviewers can answer.
        tenant, actor = await self._actor(context, Permission.EDIT)
        row = await self._comments.add(tenant, request.post_id, actor, request.text)
        self._notifier.notify(request.post_id)
        return pb.AddCommentResponse(comment=comment_to_proto(row))

    async def ListComments(  # noqa: N802 - gRPC method name
        self, request: pb.ListCommentsRequest, context: Context
    ) -> pb.ListCommentsResponse:
        tenant = tenant_of(context)
        _check_post_id(request.post_id)
        rows = await self._comments.list_comments(tenant, request.post_id)
        return pb.ListCommentsResponse(comments=[comment_to_proto(r) for r in rows])

    async def ListAuditEvents(  # noqa: N802 - gRPC method name
        self, request: pb.ListAuditEventsRequest, context: Context
    ) -> pb.ListAuditEventsResponse:
        tenant = tenant_of(context)
        v = Validator()
        v.max_length(request.post_id, MAX_POST_ID_LENGTH, "post_id")
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE, default=AUDIT_PAGE_SIZE)
        raw = v.page_token(request.page_token, "page_token")
        v.check()
        after = 0
        if raw:
            if not raw.isdigit():
                raise ValidationError.single(
                    "page_token", "invalid page token: pass next_page_token unchanged"
                )
            after = int(raw)
        if request.post_id:
            await self._store.get_post(tenant, request.post_id)  # NOT_FOUND for another tenant's post
        rows, next_id = await self._audit.list_events(
            tenant, post_id=request.post_id, limit=size, after_id=after
        )
        return pb.ListAuditEventsResponse(
            events=[audit_event_to_proto(r) for r in rows],
            next_page_token=page_token.encode(str(next_id)) if next_id is not None else "",
        )

    async def DeletePublishedPost(  # noqa: N802 - gRPC method name
        self, request: pb.DeletePublishedPostRequest, context: Context
    ) -> pb.DeletePublishedPostResponse:
        v = _post_id_validator(request.post_id)
        for i, target in enumerate(request.targets):
            v.non_empty(target.network, f"targets[{i}].network")
            v.non_empty(target.account, f"targets[{i}].account")
            v.max_length(target.account, MAX_ACCOUNT_LENGTH, f"targets[{i}].account")
        v.check()
        tenant, actor = await self._actor(context, Permission.EDIT)
        post = await self._workflow.delete_published(tenant, actor, request.post_id, list(request.targets))
        return pb.DeletePublishedPostResponse(post=post)

    async def ReplyToMention(  # noqa: N802 - gRPC method name
        self, request: pb.ReplyToMentionRequest, context: Context
    ) -> pb.ReplyToMentionResponse:
        tenant, actor = await self._actor(context, Permission.EDIT)
        post, created = await self._workflow.reply(tenant, actor, request)
        _mark_replayed(context, created)
        return pb.ReplyToMentionResponse(post=post)

    async def GetPost(self, request: pb.GetPostRequest, context: Context) -> pb.GetPostResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        _check_post_id(request.post_id)
        return pb.GetPostResponse(post=await self._store.view(tenant, request.post_id))

    async def ListPosts(self, request: pb.ListPostsRequest, context: Context) -> pb.ListPostsResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        v.max_length(request.campaign_id, MAX_ID_LENGTH, "campaign_id")
        v.max_length(request.label, MAX_LABEL_LENGTH, "label")
        v.max_length(request.network, MAX_ID_LENGTH, "network")
        v.max_length(request.account, MAX_ACCOUNT_LENGTH, "account")
        v.require(request.status in PostStatus.values(), "status", "unknown post status")
        start = from_timestamp(request.scheduled_from) if request.HasField("scheduled_from") else None
        end = from_timestamp(request.scheduled_to) if request.HasField("scheduled_to") else None
        if start is not None and end is not None:
            v.require(start < end, "scheduled_to", "must be after scheduled_from")
        v.check()
        after = _decode_cursor(request.page_token)
        filters = PostFilter(
            status=request.status,
            campaign_id=request.campaign_id,
            label=request.label,
            network=request.network,
            account=request.account,
            scheduled_from=start,
            scheduled_to=end,
        )
        posts, next_cursor = await self._store.list_posts(tenant, limit=size, after=after, filters=filters)
        return pb.ListPostsResponse(
            posts=await self._store.views(posts),
            next_page_token=page_token.encode(next_cursor.encode()) if next_cursor else "",
        )

    async def WatchPost(  # noqa: N802 - gRPC method name
        self, request: pb.WatchPostRequest, context: Context
    ) -> AsyncIterator[pb.WatchPostResponse]:
        tenant = tenant_of(context)
        _check_post_id(request.post_id)
        last: bytes | None = None
        with self._notifier.subscribe(request.post_id) as changed:
            while True:
                changed.clear()
                post = await self._store.view(tenant, request.post_id)
                snapshot = post.SerializeToString(deterministic=True)
                if snapshot != last:
                    last = snapshot
                    yield pb.WatchPostResponse(post=post)
                if is_final_post_status(post.status):
                    return
                await wait_for_change(changed, self._watch_poll_interval)


def _post_id_validator(post_id: str) -> Validator:
    v = Validator()
    if v.non_empty(post_id, "post_id"):
        v.max_length(post_id, MAX_POST_ID_LENGTH, "post_id")
    return v


#: Response metadata of CreatePost / ReplyToMention: "true" when an earlier call with the same
#: idempotency key made the post and this call only returned it (e.g. a re-run CSV import).
REPLAYED_METADATA_KEY = "x-resonanz-replayed"


def _mark_replayed(context: Context, created: bool) -> None:
    context.set_trailing_metadata(((REPLAYED_METADATA_KEY, "false" if created else "true"),))


def _check_post_id(post_id: str) -> None:
    _post_id_validator(post_id).check()


def _decode_cursor(token: str) -> PageCursor | None:
    raw = page_token.decode(token, "page_token")
    if not raw:
        return None
    try:
        return PageCursor.decode(raw)
    except ValueError:
        raise ValidationError.single(
            "page_token", "invalid page token: pass the next_page_token of the previous response unchanged"
        ) from None
