"""``resonanz scores campaign-report``: the HTML report is well-formed, self-contained, has its charts
and tables, and escapes what the service sends."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_doubles import Platform, RunCli
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import score_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as scoring_pb2

XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"


def _ts(text: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(text)
    return t


def _slice(key: str, n: int) -> scoring_pb2.CampaignSlice:
    return scoring_pb2.CampaignSlice(
        key=key,
        posts=n,
        mentions=10 * n,
        replies=2 * n,
        reshares=3 * n,
        reach=1000 * n,
        impressions=4000 * n,
        engagement=50 * n,
        positive_count=5 * n,
        neutral_count=3 * n,
        negative_count=2 * n,
        net_sentiment=0.3,
    )


def report(campaign_id: str = "summer-sale") -> scoring_pb2.CampaignReport:
    return scoring_pb2.CampaignReport(
        campaign_id=campaign_id,
        first_post_at=_ts("2026-06-01T09:00:00Z"),
        last_activity_at=_ts("2026-06-03T18:30:00Z"),
        total=_slice("", 6),
        by_network=[_slice("simulated", 4), _slice("mastodon<b>", 2)],
        by_day=[_slice("2026-06-01", 1), _slice("2026-06-02", 3), _slice("2026-06-03", 2)],
        hashtags=["summersale", "<script>alert(1)</script>"],
        links=["https://acme.example/sale?utm_source=x&utm_campaign=summer", "javascript:alert(2)"],
        top_hashtags=[
            score_pb2.TermCount(term="<script>alert('x')</script>", count=7),
            score_pb2.TermCount(term="summersale", count=5),
        ],
    )


@pytest.fixture
def campaign(platform: Platform) -> scoring_pb2.CampaignReport:
    made = report()
    platform.scoring.campaigns[("acme", "summer-sale")] = made
    return made


@pytest.mark.usefixtures("campaign")
async def test_report_is_well_formed_self_contained_and_escaped(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = await cli("--tenant", "acme", "scores", "campaign-report", "summer-sale", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output.replace("\n", "")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # well-formed: an XML parser reads the whole document (the DOCTYPE has no DTD to fetch)
    root = ET.fromstring(html.replace("<html ", '<html xmlns="http://www.w3.org/1999/xhtml" ', 1))
    assert root.tag == f"{XHTML}html"
    # self-contained: no script, nothing fetched (no src, no href, no url(), no @import, no <link>)
    assert list(root.iter(f"{XHTML}script")) == []
    assert list(root.iter(f"{XHTML}link")) == []
    assert list(root.iter(f"{XHTML}img")) == []
    for element in root.iter():
        assert not {"src", "href"} & set(element.attrib), element.tag
    assert "url(" not in html
    assert "@import" not in html
    assert not re.search(r"<script", html, re.IGNORECASE)
    # the hashtags and links are shown, escaped
    assert "#&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "mastodon&lt;b&gt;" in html
    assert "utm_source=x&amp;utm_campaign=summer" in html
    assert "javascript:alert(2)" in html  # as text only: there is no href anywhere
    # charts: reach by day (bars), engagement by day (line), by network, sentiment split
    svgs = list(root.iter(f"{SVG}svg"))
    titles = [svg.find(f"{SVG}title").text for svg in svgs]  # type: ignore[union-attr]
    assert titles == [
        "Reach by day",
        "Engagement by day",
        "Reach by network",
        "Engagement by network",
        "Sentiment of the campaign's replies, reshares and mentions",
    ]
    reach_bars = svgs[0].findall(f"{SVG}rect")
    heights = [float(r.attrib["height"]) for r in reach_bars]
    assert heights[1] > heights[2] > heights[0] > 0  # 3000 > 2000 > 1000
    assert len(svgs[1].findall(f"{SVG}circle")) == 3
    # tables: totals and per-day rows
    text = "".join(root.itertext())
    assert "6,000" in text  # total reach
    assert "24,000" in text  # total impressions
    assert "2026-06-02" in text
    assert "tenant acme" in text
    assert platform.scoring.requests("GetCampaignReport")[0].campaign_id == "summer-sale"


@pytest.mark.usefixtures("campaign")
async def test_report_sends_the_period(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = await cli(
        "--tenant",
        "acme",
        "scores",
        "campaign-report",
        "summer-sale",
        "-o",
        str(out),
        "--since",
        "2026-06-01T00:00Z",
        "--until",
        "2026-06-02T12:00+02:00",
    )
    assert result.exit_code == 0, result.output
    request = platform.scoring.requests("GetCampaignReport")[0]
    assert request.since.ToJsonString() == "2026-06-01T00:00:00Z"
    assert request.until.ToJsonString() == "2026-06-02T10:00:00Z"


@pytest.mark.usefixtures("campaign")
async def test_report_as_json(cli: RunCli) -> None:
    result = await cli("--tenant", "acme", "scores", "campaign-report", "summer-sale", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["campaign_id"] == "summer-sale"
    assert data["total"]["reach"] == "6000"
    assert [d["key"] for d in data["by_day"]] == ["2026-06-01", "2026-06-02", "2026-06-03"]


async def test_report_of_an_unknown_or_other_tenants_campaign(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    platform.scoring.campaigns[("globex", "summer-sale")] = report()
    out = tmp_path / "r.html"
    result = await cli("--tenant", "acme", "scores", "campaign-report", "summer-sale", "--out", str(out))
    assert result.exit_code == 1
    assert "not_found" in result.output
    assert not out.exists()


async def test_report_needs_an_output(cli: RunCli, platform: Platform) -> None:
    result = await cli("scores", "campaign-report", "summer-sale")
    assert result.exit_code == 1
    assert "--out" in result.output
    assert platform.scoring.requests("GetCampaignReport") == []


async def test_report_of_an_empty_campaign_still_renders(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    platform.scoring.campaigns[("acme", "quiet")] = scoring_pb2.CampaignReport(campaign_id="quiet")
    out = tmp_path / "q.html"
    result = await cli("--tenant", "acme", "scores", "campaign-report", "quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    ET.fromstring(html.replace("<html ", '<html xmlns="http://www.w3.org/1999/xhtml" ', 1))
    assert html.count("no data") == 5
