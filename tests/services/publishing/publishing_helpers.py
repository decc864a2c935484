"""Shared by the publishing service tests: ``TestNetwork``, its plugin, request builders and waiters.

``TestNetwork`` is a small in-memory network registered through the real PluginManager hook, not the
simulated plugin: the tests need exact control over failures (rate limits, permanent refusals, expired
credentials) and an exact count, per idempotency key, of the publish calls that created a post.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from resonanz.common.v1.content_pb2 import Post, PostStatus
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
)
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextCounting, TextRules
from resonanz_sdk.network import AccountRef, Credentials, Media, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from resonanz_sdk.settings import Settings


class TestNetwork(Network):
    """A tiny network kept in memory. ``faults`` are raised by the next publish calls, in order.

    ``accepted`` counts, per idempotency key, the publish calls that created a post: a post is
    published twice exactly when some count is above 1.
    """

    __test__ = False  # not a test class

    def __init__(
        self,
        name: str = "testnet",
        *,
        max_length: int = 280,
        counting: TextCounting = TextCounting.CODE_POINTS,
        features: frozenset[Feature] = frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
        media: MediaRules | None = None,
    ) -> None:
        self._manifest = Manifest(
            network=name,
            display_name=name.title(),
            features=features,
            text=TextRules(max_length=max_length, counting=counting),
            media=media
            or MediaRules(
                max_items=2,
                allowed=frozenset({MediaKind.IMAGE}),
                max_bytes={MediaKind.IMAGE: 1_000_000},
            ),
        )
        self.faults: list[NetworkError] = []
        self.calls: list[str] = []
        self.accepted: Counter[str] = Counter()
        self.posts: dict[str, PublishedPost] = {}
        self.texts: dict[str, str] = {}
        #: The media each accepted publish carried, by idempotency key.
        self.media: dict[str, tuple[Media, ...]] = {}
        self.refreshed = 0
        self.valid_token = ""

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self.calls.append(post.idempotency_key)
        await asyncio.sleep(0)
        if self.valid_token and account.credentials.get("token") != self.valid_token:
            raise AuthenticationFailedError(self.name, "token expired")
        if self.faults:
            raise self.faults.pop(0)
        self.accepted[post.idempotency_key] += 1
        external_id = uuid.uuid4().hex[:12]
        published = PublishedPost(
            external_id=external_id,
            url=f"https://{self.name}.example/{account.handle}/{external_id}",
            published_at=datetime.now(UTC),
        )
        self.posts[post.idempotency_key] = published
        self.texts[post.idempotency_key] = post.text
        self.media[post.idempotency_key] = post.media
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return self.posts.get(idempotency_key)

    async def refresh_credentials(self, account: AccountRef) -> Credentials:
        self.refreshed += 1
        return Credentials({"token": self.valid_token})


class _Plugin:
    def __init__(self, networks: list[Network]) -> None:
        self._networks = networks

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        for network in self._networks:
            register(network)


def plugin_manager(*networks: Network) -> PluginManager:
    pm = PluginManager(allowed=[])
    pm.register(_Plugin(list(networks)), name="publishing-tests")
    return pm


@dataclass
class Running:
    app: PublishingApp
    stub: pb_grpc.PublishingServiceAsyncStub
    settings: Settings
    networks: dict[str, TestNetwork] = field(default_factory=dict)


def md(tenant: str = "acme") -> tuple[tuple[str, str], ...]:
    return tenant_metadata(tenant)


def create_request(
    text: str = "Hallo Welt! #launch", *targets: tuple[str, str], key: str = "", campaign: str = ""
) -> pb.CreatePostRequest:
    return pb.CreatePostRequest(
        text=text,
        targets=[pb.TargetSpec(network=n, account=a) for n, a in (targets or (("testnet", "@acme"),))],
        idempotency_key=key,
        campaign_id=campaign,
    )


async def wait_for_post(
    stub: pb_grpc.PublishingServiceAsyncStub,
    post_id: str,
    done: Callable[[Post], bool],
    *,
    tenant: str = "acme",
    seconds: float = 15.0,
) -> Post:
    """Poll GetPost until ``done(post)``; fails the test after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        post = (await stub.GetPost(pb.GetPostRequest(post_id=post_id), metadata=md(tenant))).post
        if done(post):
            return post
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"post {post_id} never got there; last seen: {post}")
        await asyncio.sleep(0.05)


def is_final(post: Post) -> bool:
    return post.status in (
        PostStatus.POST_STATUS_PUBLISHED,
        PostStatus.POST_STATUS_PARTLY_PUBLISHED,
        PostStatus.POST_STATUS_FAILED,
    )


ResultsReader = Callable[[int], Awaitable[list[EventEnvelope]]]
