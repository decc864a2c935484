"""Test doubles of the three Resonanz gRPC services, for the CLI tests.

The real services are being built concurrently; these small in-memory servicers speak the same protos
and run inside the sdk's real :class:`~resonanz_sdk.grpc.GrpcServer` (real grpc.aio on loopback, real
error interceptor, real tenant handling), so the CLI is exercised over real gRPC. The end-to-end test
runs the CLI against the real services. Every servicer records the tenant of each call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc.aio
import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import resonanz.listening.v1.listening_service_pb2_grpc as listening_grpc
import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import resonanz.publishing.v1.publishing_service_pb2_grpc as publishing_grpc
import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import resonanz.scoring.v1.scoring_service_pb2_grpc as scoring_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2, mention_pb2, score_pb2
from resonanz_sdk.errors import FieldViolation, NotFoundError, ValidationError
from resonanz_sdk.grpc import GrpcServer, tenant_of
from typer.testing import Result

Context = grpc.aio.ServicerContext[Any, Any]
#: The ``cli`` fixture: ``await cli("posts", "list", env={...})`` runs ``resonanz`` and returns the result.
RunCli = Callable[..., Awaitable[Result]]
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


@dataclass
class PublishingDouble(publishing_grpc.PublishingServiceServicer):
    """Posts in memory; WatchPost walks a post through publishing to published."""

    posts: dict[str, content_pb2.Post] = field(default_factory=dict)
    tenants: list[str] = field(default_factory=list)
    list_requests: list[publishing_pb2.ListPostsRequest] = field(default_factory=list)

    def _tenant(self, context: Context) -> str:
        tenant = tenant_of(context)
        self.tenants.append(tenant)
        return tenant

    def _get(self, tenant: str, post_id: str) -> content_pb2.Post:
        post = self.posts.get(post_id)
        if post is None or post.tenant != tenant:
            raise NotFoundError(f"post {post_id!r} not found")
        return post

    async def CreatePost(  # noqa: N802
        self, request: publishing_pb2.CreatePostRequest, context: Context
    ) -> publishing_pb2.CreatePostResponse:
        tenant = self._tenant(context)
        violations = []
        if not request.text.strip():
            violations.append(FieldViolation("text", "must not be empty"))
        if not request.targets:
            violations.append(FieldViolation("targets", "at least one target is required"))
        for i, target in enumerate(request.targets):
            if target.network not in KNOWN_NETWORKS:
                violations.append(
                    FieldViolation(f"targets[{i}].network", f"no plugin provides {target.network!r}")
                )
        if violations:
            raise ValidationError(violations)
        for post in self.posts.values():
            if request.idempotency_key and post.idempotency_key == request.idempotency_key:
                return publishing_pb2.CreatePostResponse(post=post)
        post = content_pb2.Post(
            id=uuid.uuid4().hex[:12],
            tenant=tenant,
            text=request.text,
            targets=[
                content_pb2.PostTarget(
                    network=t.network, account=t.account, status=content_pb2.TARGET_STATUS_PENDING
                )
                for t in request.targets
            ],
            campaign_id=request.campaign_id,
            labels=request.labels,
            status=content_pb2.POST_STATUS_SCHEDULED,
            created_at=_now(),
            updated_at=_now(),
            idempotency_key=request.idempotency_key,
        )
        if request.HasField("scheduled_at"):
            post.scheduled_at.CopyFrom(request.scheduled_at)
        self.posts[post.id] = post
        return publishing_pb2.CreatePostResponse(post=post)

    async def GetPost(  # noqa: N802
        self, request: publishing_pb2.GetPostRequest, context: Context
    ) -> publishing_pb2.GetPostResponse:
        return publishing_pb2.GetPostResponse(post=self._get(self._tenant(context), request.post_id))

    async def ListPosts(  # noqa: N802
        self, request: publishing_pb2.ListPostsRequest, context: Context
    ) -> publishing_pb2.ListPostsResponse:
        tenant = self._tenant(context)
        self.list_requests.append(request)
        posts = [
            p
            for p in reversed(self.posts.values())
            if p.tenant == tenant and request.status in (content_pb2.POST_STATUS_UNSPECIFIED, p.status)
        ]
        page, token = _page(posts, request.page_size, request.page_token)
        return publishing_pb2.ListPostsResponse(posts=page, next_page_token=token)

    async def WatchPost(  # noqa: N802
        self, request: publishing_pb2.WatchPostRequest, context: Context
    ) -> AsyncIterator[publishing_pb2.WatchPostResponse]:
        post = self._get(self._tenant(context), request.post_id)
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
                    target.url = f"https://{target.network}.example/{target.account}/{post.id}"
                    target.published_at.CopyFrom(_now())
            yield publishing_pb2.WatchPostResponse(post=post)


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
class ListeningDouble(listening_grpc.ListeningServiceServicer):
    """Queries in memory; StreamMentions replays stored mentions and then produces new ones forever."""

    queries: dict[str, mention_pb2.ListeningQuery] = field(default_factory=dict)
    mentions: list[mention_pb2.Mention] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    stream_requests: list[listening_pb2.StreamMentionsRequest] = field(default_factory=list)
    streams_open: int = 0
    streams_cancelled: int = 0

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
class ScoringDouble(scoring_grpc.ScoringServiceServicer):
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
    publishing, listening, scoring = PublishingDouble(), ListeningDouble(), ScoringDouble()

    def register(server: grpc.aio.Server) -> None:
        publishing_grpc.add_PublishingServiceServicer_to_server(publishing, server)
        listening_grpc.add_ListeningServiceServicer_to_server(listening, server)
        scoring_grpc.add_ScoringServiceServicer_to_server(scoring, server)

    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[
            "resonanz.publishing.v1.PublishingService",
            "resonanz.listening.v1.ListeningService",
            "resonanz.scoring.v1.ScoringService",
        ],
        register=register,
        name="cli-test",
    )
    await server.start()
    return Platform(publishing, listening, scoring, server)
