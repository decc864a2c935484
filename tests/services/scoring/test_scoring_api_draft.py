"""ScoreDraft and GetCampaignReport over real gRPC and a real database (SQLite and PostgreSQL), with
the real language identifier and lexicon scorer and the simulated network's real manifest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import score_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_scoring.aggregate_models import CampaignMentionRow, CampaignTermRow, OwnPostRow
from resonanz_scoring.api import build_servicer
from resonanz_scoring.api_roles import ListeningLabelRoles
from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.scorer import MentionScorer
from resonanz_sdk.db import create_engine
from resonanz_sdk.manifest import Feature, Manifest, TextRules
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from resonanz_simulated.network import MANIFEST as SIMULATED
from scoring_api_support import (
    META,
    NEGATIVE,
    OTHER,
    OTHER_META,
    POSITIVE,
    TENANT,
    Api,
    api,
    mention,
    not_found,
    scored,
    start_api,
    violations,
)

assert api  # fixture

pytestmark = pytest.mark.integration

SHORT = Manifest(
    network="shortnet",
    display_name="Short",
    features=frozenset({Feature.PUBLISH}),
    text=TextRules(max_length=20),
)
READ_ONLY = Manifest(
    network="readonly", display_name="Read only", features=frozenset({Feature.SEARCH}), text=TextRules(500)
)


@pytest.fixture(scope="module")
def scorer() -> MentionScorer:
    return MentionScorer(LanguageIdentifierService(), LexiconScorer())


@pytest.fixture
async def draft_api(database_url: str, scorer: MentionScorer) -> AsyncIterator[Api]:
    async for started in start_api(database_url, manifests=[SIMULATED, SHORT, READ_ONLY], scorer=scorer):
        yield started


def own_post(
    seq: int, published: datetime, engagement: int, *, tenant: str = TENANT, **kw: str
) -> OwnPostRow:
    return OwnPostRow(
        tenant=tenant,
        post_id=f"post-{seq}",
        network=kw.get("network", "simulated"),
        account=kw.get("account", "@acme"),
        external_id=f"x{seq}",
        mention_id=f"{kw.get('network', 'simulated')}:x{seq}",
        campaign_id=kw.get("campaign", ""),
        published_at=published,
        engagement=engagement,
        estimated_reach=100 * engagement,
        estimated_impressions=300 * engagement,
    )


async def test_draft_sentiment_and_advice_per_network(draft_api: Api) -> None:
    text = "Wir lieben unseren neuen Service, er ist wirklich großartig und schnell! " * 5 + "#a #b #c #d"
    response = await draft_api.stub.ScoreDraft(pb.ScoreDraftRequest(text=text), metadata=META)
    assert response.language == "de"
    assert response.sentiment == score_pb2.SENTIMENT_POSITIVE
    assert 0 < response.sentiment_confidence <= 1
    assert response.polarity > 0
    # every loaded network that can publish, by name; not the read-only one
    assert [a.network for a in response.advice] == ["shortnet", "simulated"]
    short, simulated = response.advice
    assert (short.length, short.max_length, short.fits) == (len(text), 20, False)
    assert short.suggestions[0].startswith(f"Too long by {len(text) - 20} ")
    assert (simulated.max_length, simulated.fits, simulated.hashtag_count) == (500, True, 4)
    assert simulated.recommended_max_hashtags == 3
    assert simulated.suggestions  # four hashtags are more than the recommended three
    assert list(simulated.best_times) == []  # no account asked


async def test_draft_best_times_from_the_accounts_own_posts(draft_api: Api) -> None:
    tuesday_9 = datetime(2026, 5, 5, 9, 15, tzinfo=UTC)  # a Tuesday
    friday_17 = datetime(2026, 5, 8, 17, 40, tzinfo=UTC)
    week = timedelta(days=7)
    await draft_api.add_rows(
        *(own_post(i, tuesday_9 + i * week, 80) for i in range(8)),
        *(own_post(100 + i, friday_17 + i * week, 10) for i in range(8)),
        *(own_post(200 + i, tuesday_9 + i * week, 999, account="@other") for i in range(8)),
        *(own_post(300 + i, tuesday_9 + i * week, 50, tenant=OTHER) for i in range(10)),
        *(own_post(400 + i, friday_17 + i * week, 5, tenant=OTHER) for i in range(10)),
    )
    response = await draft_api.stub.ScoreDraft(
        pb.ScoreDraftRequest(text="Great news today", networks=["simulated"], account="@acme"), metadata=META
    )
    [advice] = response.advice
    slots = [(t.weekday, t.hour, t.posts) for t in advice.best_times]
    assert slots == [(1, 9, 8)]  # Friday 17:00 is below the account's mean: no good slot
    assert advice.best_times[0].mean_engagement == 80.0
    theirs = await draft_api.stub.ScoreDraft(
        pb.ScoreDraftRequest(text="Great news today", networks=["simulated"], account="@acme"),
        metadata=OTHER_META,
    )
    assert [(t.weekday, t.hour, t.mean_engagement) for t in theirs.advice[0].best_times] == [(1, 9, 50.0)]


async def test_draft_language_hint_and_negative_text(draft_api: Api) -> None:
    response = await draft_api.stub.ScoreDraft(
        pb.ScoreDraftRequest(
            text="This is terrible, awful and broken.", networks=["simulated"], language="en"
        ),
        metadata=META,
    )
    assert (response.language, response.sentiment) == ("en", score_pb2.SENTIMENT_NEGATIVE)
    assert response.polarity < 0


async def test_draft_validation_names_every_field(draft_api: Api) -> None:
    found = await violations(
        draft_api.stub.ScoreDraft(
            pb.ScoreDraftRequest(
                text=" ", networks=["simulated", "nowhere"], account="a" * 301, language="deutsch"
            ),
            metadata=META,
        )
    )
    assert [v.field for v in found] == ["text", "networks[1]", "account", "language"]
    assert "simulated" in found[1].description  # names what is loaded


async def test_draft_without_a_scorer_is_a_failed_precondition(api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.stub.ScoreDraft(pb.ScoreDraftRequest(text="hello"), metadata=META)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


async def _campaign(api: Api) -> None:
    day1 = datetime(2026, 6, 1, 10, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    await api.add_rows(
        own_post(1, day1, 10, campaign="summer"),
        own_post(2, day2, 4, campaign="summer", network="othernet"),
        CampaignTermRow(tenant=TENANT, campaign_id="summer", kind="hashtag", term="summersale", since=day1),
        CampaignTermRow(
            tenant=TENANT, campaign_id="summer", kind="link", term="acme.example/sale", since=day1
        ),
    )
    await api.add(
        scored(
            mention("r1", at=day1 + timedelta(hours=1), in_reply_to="x1"), POSITIVE, reach=50, engagement=2
        ),
        scored(
            mention("s1", at=day2 + timedelta(hours=2), reshare_of="x1", hashtags=["summersale"]),
            NEGATIVE,
            reach=70,
            engagement=1,
        ),
    )
    await api.add_rows(
        CampaignMentionRow(
            tenant=TENANT,
            campaign_id="summer",
            mention_id="testnet:r1",
            relation="reply",
            network="testnet",
            occurred_at=day1 + timedelta(hours=1),
        ),
        CampaignMentionRow(
            tenant=TENANT,
            campaign_id="summer",
            mention_id="testnet:s1",
            relation="reshare",
            network="testnet",
            occurred_at=day2 + timedelta(hours=2),
        ),
    )


async def test_campaign_report_totals_by_network_and_day(api: Api) -> None:
    await _campaign(api)
    report = (
        await api.stub.GetCampaignReport(pb.GetCampaignReportRequest(campaign_id="summer"), metadata=META)
    ).report
    assert report.campaign_id == "summer"
    assert report.first_post_at.ToDatetime(tzinfo=UTC) == datetime(2026, 6, 1, 10, tzinfo=UTC)
    total = report.total
    assert (total.posts, total.mentions, total.replies, total.reshares) == (2, 2, 1, 1)
    assert (total.reach, total.engagement) == (1000 + 400 + 50 + 70, 10 + 4 + 2 + 1)
    assert (total.positive_count, total.negative_count, total.net_sentiment) == (1, 1, 0.0)
    assert [d.key for d in report.by_day] == ["2026-06-01", "2026-06-02"]
    assert {n.key for n in report.by_network} == {"simulated", "othernet", "testnet"}
    assert list(report.hashtags) == ["summersale"]
    assert list(report.links) == ["acme.example/sale"]
    assert [(t.term, t.count) for t in report.top_hashtags] == [("summersale", 1)]
    later = await api.stub.GetCampaignReport(
        pb.GetCampaignReportRequest(campaign_id="summer", since=_ts(datetime(2026, 6, 2, tzinfo=UTC))),
        metadata=META,
    )
    assert (later.report.total.posts, later.report.total.mentions) == (1, 1)


async def test_campaign_report_of_unknown_or_other_tenants_campaign(api: Api) -> None:
    await _campaign(api)
    for campaign, meta in (("summer", OTHER_META), ("winter", META)):
        message = await not_found(
            api.stub.GetCampaignReport(pb.GetCampaignReportRequest(campaign_id=campaign), metadata=meta)
        )
        assert campaign in message


async def test_campaign_report_validation(api: Api) -> None:
    day = datetime(2026, 6, 1, tzinfo=UTC)
    found = await violations(
        api.stub.GetCampaignReport(
            pb.GetCampaignReportRequest(campaign_id="", since=_ts(day), until=_ts(day)), metadata=META
        )
    )
    assert [v.field for v in found] == ["campaign_id", "until"]


async def test_build_servicer_advises_on_the_loaded_plugins(database_url: str, scorer: MentionScorer) -> None:
    plugins = PluginManager.from_setting("simulated")
    plugins.load_entry_points()
    engine = create_engine(database_url)
    servicer = build_servicer(Settings(database_url=database_url, listening_port=1), engine, plugins, scorer)
    try:
        assert [m.network for m in servicer.deps.manifests()] == ["simulated"]
        assert servicer.deps.scorer is scorer
        assert isinstance(servicer.deps.label_roles, ListeningLabelRoles)
    finally:
        await servicer.aclose()
        await plugins.aclose()
        await engine.dispose()
