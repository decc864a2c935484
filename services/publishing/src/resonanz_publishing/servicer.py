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
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from resonanz_sdk.plugins import PluginManager

from resonanz_publishing.convert import post_to_proto
from resonanz_publishing.notifier import ChangeNotifier, wait_for_change
from resonanz_publishing.status import is_final_post_status
from resonanz_publishing.store import PageCursor, PostStore
from resonanz_publishing.validation import validate_create_post

Context = grpc.aio.ServicerContext[Any, Any]

MAX_PAGE_SIZE = 500
MAX_POST_ID_LENGTH = 64


class PublishingServicer(pb_grpc.PublishingServiceServicer):
    def __init__(
        self,
        store: PostStore,
        plugins: PluginManager,
        notifier: ChangeNotifier,
        *,
        watch_poll_interval: float,
        on_created: Any = None,
    ) -> None:
        self._store = store
        self._plugins = plugins
        self._notifier = notifier
        self._watch_poll_interval = watch_poll_interval
        self._on_created = on_created

    async def CreatePost(self, request: pb.CreatePostRequest, context: Context) -> pb.CreatePostResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        manifests = {name: network.manifest for name, network in self._plugins.networks.items()}
        validate_create_post(request, manifests)
        post, created = await self._store.create_post(tenant, request)
        if created and self._on_created is not None:
            self._on_created()
        return pb.CreatePostResponse(post=post_to_proto(post))

    async def GetPost(self, request: pb.GetPostRequest, context: Context) -> pb.GetPostResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        _check_post_id(request.post_id)
        post = await self._store.get_post(tenant, request.post_id)
        return pb.GetPostResponse(post=post_to_proto(post))

    async def ListPosts(self, request: pb.ListPostsRequest, context: Context) -> pb.ListPostsResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        v.max_length(request.campaign_id, 64, "campaign_id")
        v.require(request.status in PostStatus.values(), "status", "unknown post status")
        v.check()
        after = _decode_cursor(request.page_token)
        posts, next_cursor = await self._store.list_posts(
            tenant, limit=size, after=after, status=request.status, campaign_id=request.campaign_id
        )
        return pb.ListPostsResponse(
            posts=[post_to_proto(p) for p in posts],
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
                post = post_to_proto(await self._store.get_post(tenant, request.post_id))
                snapshot = post.SerializeToString(deterministic=True)
                if snapshot != last:
                    last = snapshot
                    yield pb.WatchPostResponse(post=post)
                if is_final_post_status(post.status):
                    return
                await wait_for_change(changed, self._watch_poll_interval)


def _check_post_id(post_id: str) -> None:
    v = Validator()
    if v.non_empty(post_id, "post_id"):
        v.max_length(post_id, MAX_POST_ID_LENGTH, "post_id")
    v.check()


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
