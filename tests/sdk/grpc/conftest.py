"""A real GrpcServer on 127.0.0.1:0 serving test doubles of Resonanz services, and a real channel to it.

The servicers below are *test doubles*: minimal implementations of existing service protos whose
behaviour is chosen by the request (label "missing" -> NotFoundError, "boom" -> a bug, ...) so the tests
can drive every path of the interceptors over a real connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.listening.v1 import listening_service_pb2, listening_service_pb2_grpc
from resonanz.publishing.v1 import publishing_service_pb2, publishing_service_pb2_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.errors import NotFoundError, RateLimitedError, ValidationError
from resonanz_sdk.grpc import GrpcServer, Validator, page_token, tenant_of
from resonanz_sdk.tracing import current_traceparent

SCORING = scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
LISTENING = listening_service_pb2.DESCRIPTOR.services_by_name["ListeningService"].full_name
PUBLISHING = publishing_service_pb2.DESCRIPTOR.services_by_name["PublishingService"].full_name
SECRET = "db password hunter2 at 10.0.0.7"
MENTIONS_PER_TENANT = 7


class ScoringDouble(scoring_service_pb2_grpc.ScoringServiceServicer):
    """Test double of ScoringService: validates like the real one would, fails on request."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []

    async def GetBrandScores(  # noqa: N802
        self,
        request: scoring_service_pb2.GetBrandScoresRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> scoring_service_pb2.GetBrandScoresResponse:
        tenant = tenant_of(context)
        self.traceparents.append(current_traceparent())
        v = Validator()
        v.non_empty(request.label, "label")
        v.max_length(request.label, 10, "label")
        v.require(request.window.seconds >= 0, "window", "must not be negative")
        v.check()
        if request.label == "missing":
            raise NotFoundError(f"no scores for label {request.label!r}")
        if request.label == "boom":
            raise RuntimeError(SECRET)
        if request.label == "limited":
            raise RateLimitedError("simulated", "slow down", retry_after=2.5)
        return scoring_service_pb2.GetBrandScoresResponse(
            scores=score_pb2.BrandScores(tenant=tenant, label=request.label, mention_count=3)
        )

    async def ListScoredMentions(  # noqa: N802
        self,
        request: scoring_service_pb2.ListScoredMentionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> scoring_service_pb2.ListScoredMentionsResponse:
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size", max=3)
        position = v.page_token(request.page_token, "page_token")
        v.check()
        offset = int(position or 0)
        ids = [f"{tenant}:{n}" for n in range(MENTIONS_PER_TENANT)][offset : offset + size]
        end = offset + len(ids)
        return scoring_service_pb2.ListScoredMentionsResponse(
            mentions=[scoring_service_pb2.ScoredMention(mention=mention_pb2.Mention(id=i)) for i in ids],
            next_page_token=page_token.encode(str(end)) if end < MENTIONS_PER_TENANT else "",
        )


class ListeningDouble(listening_service_pb2_grpc.ListeningServiceServicer):
    """Test double of ListeningService: StreamMentions as an async generator that fails on request."""

    async def StreamMentions(  # noqa: N802
        self,
        request: listening_service_pb2.StreamMentionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[listening_service_pb2.StreamMentionsResponse]:
        tenant_of(context)
        if "invalid" in request.labels:
            raise ValidationError.single("labels[0]", "unknown label")
        for n in range(2):
            yield listening_service_pb2.StreamMentionsResponse(
                mention=mention_pb2.Mention(id=f"m{n}"), cursor=str(n)
            )
        if "missing" in request.labels:
            raise NotFoundError("the query was deleted")
        if "boom" in request.labels:
            raise RuntimeError(SECRET)


class PublishingDouble(publishing_service_pb2_grpc.PublishingServiceServicer):
    """Test double of PublishingService: WatchPost as a coroutine writing with context.write."""

    async def WatchPost(  # type: ignore[override]  # noqa: N802
        self,
        request: publishing_service_pb2.WatchPostRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> None:
        await context.write(publishing_service_pb2.WatchPostResponse())
        if request.post_id == "boom":
            raise RuntimeError(SECRET)
        if request.post_id == "missing":
            raise NotFoundError("no such post")


@pytest.fixture
def secret() -> str:
    """The text of the test doubles' unexpected exceptions: it must never reach a client."""
    return SECRET


@pytest.fixture
def scoring_double() -> ScoringDouble:
    return ScoringDouble()


@pytest.fixture
async def grpc_server(scoring_double: ScoringDouble) -> AsyncIterator[GrpcServer]:
    def register(server: grpc.aio.Server) -> None:
        scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(scoring_double, server)
        # The doubles implement only the methods under test; the others answer UNIMPLEMENTED.
        listening = ListeningDouble()  # type: ignore[abstract,unused-ignore]
        publishing = PublishingDouble()  # type: ignore[abstract,unused-ignore]
        listening_service_pb2_grpc.add_ListeningServiceServicer_to_server(listening, server)
        publishing_service_pb2_grpc.add_PublishingServiceServicer_to_server(publishing, server)

    server = GrpcServer(
        host="127.0.0.1", port=0, services=[SCORING, LISTENING, PUBLISHING], register=register, name="test"
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=1.0)


@pytest.fixture
async def channel(grpc_server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as ch:
        yield ch
