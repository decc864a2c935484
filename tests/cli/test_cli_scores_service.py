"""The new ``resonanz scores`` commands against the real ScoringService (real servicer, real SQLite and
PostgreSQL database, rows written by the service's own store and aggregate tables), not the double."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc.aio
import pytest
from cli_doubles import RunCli
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz.scoring.v1 import scoring_service_pb2_grpc
from resonanz_scoring.aggregate_models import AlertRow, CampaignMentionRow, CampaignTermRow, OwnPostRow
from resonanz_scoring.api import SERVICE_NAME, ScoringServicer
from resonanz_scoring.models import metadata
from resonanz_scoring.store import ScoreStore
from resonanz_sdk.db import create_engine
from resonanz_sdk.grpc import GrpcServer
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

pytestmark = pytest.mark.integration

TENANT = "acme"


def _mention(
    seq: int, at: datetime, *, hashtags: tuple[str, ...] = (), reply_to: str = ""
) -> mention_pb2.Mention:
    m = mention_pb2.Mention(
        id=f"simulated:{seq}",
        tenant=TENANT,
        network="simulated",
        external_id=str(seq),
        text=f"post {seq}",
        author=mention_pb2.Author(id=f"a{seq % 3}", handle=f"user{seq % 3}", followers=100 * seq),
        hashtags=list(hashtags),
        labels=["acme"],
        in_reply_to_id=reply_to,
    )
    m.published_at.FromDatetime(at)
    return m


def _score(m: mention_pb2.Mention, sentiment: score_pb2.Sentiment.ValueType) -> score_pb2.MentionScore:
    s = score_pb2.MentionScore(
        mention_id=m.id, tenant=TENANT, language="en", sentiment=sentiment, estimated_reach=100, engagement=3
    )
    s.scored_at.FromDatetime(datetime.now(UTC))
    return s


async def _seed(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    items = [
        (m, _score(m, sentiment))
        for m, sentiment in (
            (
                _mention(1, now - timedelta(hours=2), hashtags=("<script>x</script>",)),
                score_pb2.SENTIMENT_POSITIVE,
            ),
            (_mention(2, now - timedelta(hours=1), reply_to="p1"), score_pb2.SENTIMENT_NEGATIVE),
        )
    ]
    await ScoreStore(engine).save_batch(items)
    alert = events_pb2.Alert(id="al-1", label="acme", tenant=TENANT, message="negative spike", z_score=5.0)
    alert.raised_at.FromDatetime(now - timedelta(minutes=5))
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add_all(
            [
                AlertRow(
                    tenant=TENANT,
                    id="al-1",
                    label="acme",
                    kind=1,
                    severity=2,
                    raised_at=now - timedelta(minutes=5),
                    window_start=now - timedelta(minutes=20),
                    window_end=now - timedelta(minutes=5),
                    observed=9.0,
                    baseline=1.0,
                    z_score=5.0,
                    message="negative spike",
                    sample_mention_ids=[],
                    alert=alert.SerializeToString(),
                ),
                OwnPostRow(
                    tenant=TENANT,
                    post_id="post-1",
                    network="simulated",
                    account="@acme",
                    external_id="p1",
                    mention_id="simulated:p1",
                    campaign_id="launch",
                    published_at=now - timedelta(hours=3),
                    engagement=12,
                    estimated_reach=900,
                    estimated_impressions=2000,
                ),
                CampaignTermRow(
                    tenant=TENANT, campaign_id="launch", kind="hashtag", term="<script>x</script>", since=now
                ),
                CampaignMentionRow(
                    tenant=TENANT,
                    campaign_id="launch",
                    mention_id="simulated:2",
                    relation="reply",
                    network="simulated",
                    occurred_at=now - timedelta(hours=1),
                ),
            ]
        )


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[str]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await _seed(engine)
    servicer = ScoringServicer(engine)

    def register(server: grpc.aio.Server) -> None:
        scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, server)

    server = GrpcServer(host="127.0.0.1", port=0, services=[SERVICE_NAME], register=register, name="cli-real")
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop()
        await engine.dispose()


async def test_dashboard_authors_and_alerts_against_the_service(cli: RunCli, service: str) -> None:
    env = {"RESONANZ_SCORING_ADDR": service}
    result = await cli("--tenant", TENANT, "scores", "dashboard", "acme", env=env)
    assert result.exit_code == 0, result.output
    assert "dashboard of acme" in result.output
    assert "1 positive · 0 neutral · 1 negative" in result.output
    assert "negative spike" in result.output
    data = json.loads(
        (await cli("--tenant", TENANT, "scores", "dashboard", "acme", "--json", env=env)).stdout
    )
    assert data["scores"]["mention_count"] == "2"
    assert len(data["timeline"]) in (24, 25)  # hourly buckets over 24 hours, aligned on the hour
    result = await cli("--tenant", TENANT, "scores", "show", "acme", env=env)
    assert "previous window" in result.output
    assert "0 mentions (no mentions before)" in result.output
    assert "top links" in result.output
    result = await cli("--tenant", TENANT, "scores", "authors", "acme", "--json", env=env)
    assert {a["handle"] for a in json.loads(result.stdout)} == {"user1", "user2"}
    result = await cli("--tenant", TENANT, "scores", "alerts", "--json", env=env)
    assert [a["id"] for a in json.loads(result.stdout)] == ["al-1"]
    result = await cli("--tenant", "other", "scores", "alerts", "--json", env=env)
    assert json.loads(result.stdout) == []


async def test_campaign_report_against_the_service(cli: RunCli, service: str, tmp_path: Path) -> None:
    env = {"RESONANZ_SCORING_ADDR": service}
    out = tmp_path / "launch.html"
    result = await cli("--tenant", TENANT, "scores", "campaign-report", "launch", "--out", str(out), env=env)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    ET.fromstring(html.replace("<html ", '<html xmlns="http://www.w3.org/1999/xhtml" ', 1))
    assert "<script" not in html
    assert "#&lt;script&gt;x&lt;/script&gt;" in html
    result = await cli("--tenant", "other", "scores", "campaign-report", "launch", "--out", str(out), env=env)
    assert result.exit_code == 1
    assert "not_found" in result.output
