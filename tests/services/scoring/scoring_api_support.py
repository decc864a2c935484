"""Fixtures and builders of the ScoringService API tests (test_scoring_api_*.py).

The servicer runs in the sdk's real GrpcServer (real grpc.aio on loopback, real error interceptor)
over a real database (SQLite and PostgreSQL through ``database_url``); rows are written with the
service's own store (:class:`ScoreStore`) and the aggregate ORM classes, as the streaming app does.
The clock of the servicer is fixed at :data:`NOW` so windows and buckets are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc.aio
import pytest
from google.protobuf.duration_pb2 import Duration
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.scoring.v1 import scoring_service_pb2_grpc
from resonanz_scoring import aggregate_models
from resonanz_scoring.api import SERVICE_NAME, ScoringServicer
from resonanz_scoring.models import metadata
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.store import ScoreStore
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import FieldViolation
from resonanz_sdk.grpc import GrpcServer, field_violations, tenant_metadata
from resonanz_sdk.manifest import Manifest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

assert aggregate_models  # the aggregate tables are on the same metadata

NOW = datetime(2026, 6, 3, 12, 30, tzinfo=UTC)
TENANT = "acme-corp"
OTHER = "globex-inc"
META = tenant_metadata(TENANT)
OTHER_META = tenant_metadata(OTHER)

POSITIVE = score_pb2.SENTIMENT_POSITIVE
NEUTRAL = score_pb2.SENTIMENT_NEUTRAL
NEGATIVE = score_pb2.SENTIMENT_NEGATIVE


@dataclass
class Api:
    engine: AsyncEngine
    stub: scoring_service_pb2_grpc.ScoringServiceAsyncStub
    servicer: ScoringServicer

    async def add(self, *items: tuple[mention_pb2.Mention, score_pb2.MentionScore]) -> None:
        await ScoreStore(self.engine).save_batch(list(items))

    async def add_rows(self, *rows: Any) -> None:
        """Aggregate ORM rows (cascades, alerts, campaigns), in one transaction."""
        async with async_sessionmaker(self.engine)() as session, session.begin():
            session.add_all(rows)


def mention(
    seq: int | str,
    *,
    at: datetime = NOW - timedelta(hours=1),
    labels: Sequence[str] = ("acme",),
    handle: str = "",
    author_id: str = "",
    followers: int = 100,
    verified: bool = False,
    hashtags: Sequence[str] = (),
    links: Sequence[str] = (),
    network: str = "testnet",
    reshare_of: str = "",
    in_reply_to: str = "",
    quote_of: str = "",
    text: str = "",
    display_name: str = "",
    names: Sequence[str] = (),
    tenant: str = TENANT,
) -> mention_pb2.Mention:
    handle = handle or f"user{seq}"
    m = mention_pb2.Mention(
        id=f"{network}:{seq}",
        tenant=tenant,
        network=network,
        external_id=str(seq),
        text=text or f"post {seq}",
        author=mention_pb2.Author(
            id=author_id or f"id-{handle}",
            handle=handle,
            display_name=display_name,
            followers=followers,
            verified=verified,
        ),
        hashtags=list(hashtags),
        links=list(links),
        mentioned_handles=list(names),
        labels=list(labels),
        reshare_of_id=reshare_of,
        in_reply_to_id=in_reply_to,
        quote_of_id=quote_of,
    )
    m.published_at.FromDatetime(at)
    return m


def scored(
    m: mention_pb2.Mention,
    sentiment: score_pb2.Sentiment.ValueType = NEUTRAL,
    *,
    reach: int = 0,
    engagement: int = 0,
    impressions: int = 0,
    tenant: str = TENANT,
) -> tuple[mention_pb2.Mention, score_pb2.MentionScore]:
    score = score_pb2.MentionScore(
        mention_id=m.id,
        tenant=tenant,
        language="en",
        sentiment=sentiment,
        sentiment_confidence=0.9,
        polarity={POSITIVE: 0.8, NEGATIVE: -0.8}.get(sentiment, 0.0),
        engagement=engagement,
        estimated_reach=reach,
        estimated_impressions=impressions,
        scorer="test",
    )
    score.scored_at.FromDatetime(NOW)
    return m, score


def duration(**kw: float) -> Duration:
    d = Duration()
    d.FromTimedelta(timedelta(**kw))
    return d


async def violations(call: Any) -> list[FieldViolation]:
    """The field violations of a call that must fail with INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return field_violations(info.value)


async def not_found(call: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.details()
    return str(info.value.details())


async def start_api(
    database_url: str,
    *,
    manifests: Sequence[Manifest] = (),
    scorer: MentionScorer | None = None,
    label_roles: Any = None,
) -> AsyncIterator[Api]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    servicer = ScoringServicer(
        engine,
        manifests=lambda: list(manifests),
        scorer=scorer,
        label_roles=label_roles,
        clock=lambda: NOW,
        alert_poll_seconds=0.05,
    )
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[SERVICE_NAME],
        register=lambda s: scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, s),
        name="scoring-api-test",
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Api(engine, scoring_service_pb2_grpc.ScoringServiceStub(channel), servicer)
    finally:
        await server.stop()
        await engine.dispose()


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async for started in start_api(database_url):
        yield started
