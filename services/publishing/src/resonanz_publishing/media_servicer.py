"""The gRPC API of the media store: ``resonanz.publishing.v1.MediaService``.

``UploadMedia`` is client-streaming: the first message carries ``info``, every later one a ``chunk`` of
at most 1 MiB. The bytes stream into the store as they arrive (never held in memory as a whole); any
violation ends the call with INVALID_ARGUMENT naming the field and leaves nothing stored. Uploading
and deleting need :attr:`Permission.EDIT`; reading is open to the tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from resonanz.publishing.v1 import media_service_pb2 as mpb
from resonanz.publishing.v1 import media_service_pb2_grpc as mpb_grpc
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, actor_of, tenant_of

from resonanz_publishing.access import AccessControl, Permission
from resonanz_publishing.media_catalog import MAX_MEDIA_ID_LENGTH, MediaCatalog, stored_media_to_proto

Context = grpc.aio.ServicerContext[Any, Any]

#: Largest ``chunk`` of one UploadMediaRequest.
MAX_CHUNK_BYTES = 1024 * 1024


class MediaServicer(mpb_grpc.MediaServiceServicer):
    def __init__(self, catalog: MediaCatalog, access: AccessControl) -> None:
        self._catalog = catalog
        self._access = access

    async def UploadMedia(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[mpb.UploadMediaRequest], context: Context
    ) -> mpb.UploadMediaResponse:
        tenant = tenant_of(context)
        actor = actor_of(context)
        await self._access.require(tenant, actor, Permission.EDIT)
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("part") != "info":
            raise ValidationError.single("info", "the first message of an upload must carry info")
        row = await self._catalog.upload(tenant, first.info, _chunks(request_iterator), actor)
        return mpb.UploadMediaResponse(media=stored_media_to_proto(row))

    async def GetMedia(self, request: mpb.GetMediaRequest, context: Context) -> mpb.GetMediaResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        _check_media_id(request.media_id)
        row = await self._catalog.get(tenant, request.media_id)
        return mpb.GetMediaResponse(media=stored_media_to_proto(row))

    async def DeleteMedia(  # noqa: N802 - gRPC method name
        self, request: mpb.DeleteMediaRequest, context: Context
    ) -> mpb.DeleteMediaResponse:
        tenant = tenant_of(context)
        actor = actor_of(context)
        _check_media_id(request.media_id)
        await self._access.require(tenant, actor, Permission.EDIT)
        await self._catalog.delete(tenant, request.media_id, actor)
        return mpb.DeleteMediaResponse()


async def _chunks(requests: AsyncIterator[mpb.UploadMediaRequest]) -> AsyncIterator[bytes]:
    """The bytes of the messages after ``info``; ValidationError on ``chunk`` for anything else."""
    async for request in requests:
        if request.WhichOneof("part") != "chunk":
            raise ValidationError.single("chunk", "every message after the first must carry a chunk")
        if len(request.chunk) > MAX_CHUNK_BYTES:
            raise ValidationError.single(
                "chunk", f"a chunk must be at most {MAX_CHUNK_BYTES} bytes (is {len(request.chunk)})"
            )
        yield request.chunk


def _check_media_id(media_id: str) -> None:
    v = Validator()
    if v.non_empty(media_id, "media_id"):
        v.max_length(media_id, MAX_MEDIA_ID_LENGTH, "media_id")
    v.check()
