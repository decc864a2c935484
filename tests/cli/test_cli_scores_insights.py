"""``resonanz scores dashboard | authors | cascades | cascade | alerts | draft`` against the scoring
double on a real gRPC server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cli_doubles import Platform, RunCli, make_mention
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as scoring_pb2


def _ts(moment: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(moment)
    return t


T0 = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def alert(alert_id: str, label: str, minutes: int, *, message: str = "negative spike") -> events_pb2.Alert:
    return events_pb2.Alert(
        id=alert_id,
        label=label,
        kind=events_pb2.ALERT_KIND_NEGATIVE_SPIKE,
        severity=events_pb2.ALERT_SEVERITY_CRITICAL,
        message=message,
        observed=40,
        baseline=3.5,
        z_score=6.2,
        raised_at=_ts(T0 + timedelta(minutes=minutes)),
    )


def author(rank: int, handle: str, **kw: object) -> scoring_pb2.AuthorRank:
    return scoring_pb2.AuthorRank(
        rank=rank,
        author_id=f"id-{handle}",
        network="simulated",
        handle=handle,
        followers=1000 * (10 - rank),
        mention_count=10 - rank,
        engagement_earned=100 * (10 - rank),
        centrality=1.0 / rank,
        score=1.0 / rank,
        **kw,  # type: ignore[arg-type]
    )


def cascade(root: str, size: int, virality: float, growth: float, labels: list[str]) -> scoring_pb2.Cascade:
    return scoring_pb2.Cascade(
        root_mention_id=root,
        network="simulated",
        size=size,
        depth=3,
        structural_virality=virality,
        growth_rate_per_hour=growth,
        estimated_reach=size * 500,
        labels=labels,
        root_author_handle="founder",
        root_text=f"the post that started {root}",
        last_activity_at=_ts(T0),
    )


@pytest.fixture
def scoring(platform: Platform) -> Platform:
    s = platform.scoring
    for seq, sentiment in ((1, score_pb2.SENTIMENT_POSITIVE), (2, score_pb2.SENTIMENT_NEGATIVE)):
        mention = make_mention(seq, label="acme")
        mention.hashtags.append("#summer")
        s.scored.append(
            scoring_pb2.ScoredMention(
                mention=mention, score=score_pb2.MentionScore(sentiment=sentiment, estimated_reach=500)
            )
        )
    s.timelines["acme"] = [
        scoring_pb2.TimelinePoint(
            bucket_start=_ts(T0 + timedelta(hours=h)), mention_count=n, negative_count=neg
        )
        for h, (n, neg) in enumerate([(0, 0), (2, 0), (8, 1), (4, 4)])
    ]
    s.shares.extend(
        [
            scoring_pb2.LabelShare(
                label="acme", role=mention_pb2.QUERY_ROLE_BRAND, mention_count=2, share_of_voice=0.4
            ),
            scoring_pb2.LabelShare(
                label="globex", role=mention_pb2.QUERY_ROLE_COMPETITOR, mention_count=3, share_of_voice=0.6
            ),
        ]
    )
    s.top_authors["acme"] = [
        author(1, "star", verified=True, display_name="Star Person"),
        author(2, "fan"),
        author(3, "critic"),
    ]
    s.cascade_rows.extend(
        [
            ("acme", cascade("simulated:big", 50, 2.0, 1.0, ["acme"])),
            ("acme", cascade("simulated:deep", 10, 6.5, 3.0, ["acme"])),
            ("globex", cascade("simulated:theirs", 99, 9.0, 9.0, ["acme"])),
        ]
    )
    s.cascade_members["simulated:b7"] = "simulated:big"
    s.alert_rows.extend(
        [
            ("acme", alert("a1", "acme", 0)),
            ("acme", alert("a2", "acme", 30, message="Shitstorm [bold]about[/bold] the app")),
            ("acme", alert("g1", "globex", 40)),
            ("globex", alert("x1", "acme", 50)),
        ]
    )
    return platform


async def test_dashboard_shows_every_part(cli: RunCli, scoring: Platform) -> None:
    result = await cli("--tenant", "acme", "scores", "dashboard", "acme", "--window", "7d")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dashboard of acme" in out
    assert "mentions" in out
    assert "1 positive · 0 neutral · 1 negative" in out
    assert "▁▃█▅" in out  # mentions per bucket: 0, 2, 8, 4 on 8 levels
    assert "▁▁▃█" in out  # negative mentions per bucket: 0, 0, 1, 4
    assert "globex" in out
    assert "competitor" in out
    assert "60.0%" in out
    assert "#summer" in out
    assert "##summer" not in out
    assert "@star" in out
    assert "Shitstorm [bold]about[/bold] the app" in out  # printed as text, not as markup
    week = 7 * 86400
    calls = {name for name, _, _ in scoring.scoring.calls}
    assert calls == {"GetBrandTimeline", "GetShareOfVoice", "ListTopAuthors", "ListAlerts"}
    assert scoring.scoring.requests("GetBrandTimeline")[0].window.seconds == week
    assert scoring.scoring.requests("GetShareOfVoice")[0].window.seconds == week
    assert scoring.scoring.requests("ListTopAuthors")[0].limit == 5
    assert scoring.scoring.requests("ListAlerts")[0].label == "acme"
    assert scoring.scoring.windows == [week]


async def test_dashboard_json_and_watch(cli: RunCli, scoring: Platform) -> None:
    result = await cli("--tenant", "acme", "scores", "dashboard", "acme", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"scores", "timeline", "share_of_voice", "top_authors", "alerts"}
    assert data["scores"]["mention_count"] == "2"
    assert [a["handle"] for a in data["top_authors"]] == ["star", "fan", "critic"]
    result = await cli("--tenant", "acme", "scores", "dashboard", "acme", "--watch", "1", "--refreshes", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("dashboard of acme") == 2
    result = await cli("scores", "dashboard", "acme", "--json", "--watch", "5")
    assert result.exit_code == 1
    assert "--watch" in result.output


async def test_dashboard_bad_window_calls_nothing(cli: RunCli, scoring: Platform) -> None:
    result = await cli("scores", "dashboard", "acme", "--window", "9y")
    assert result.exit_code == 1
    assert "--window" in result.output
    assert scoring.scoring.calls == []


async def test_authors_table_and_json(cli: RunCli, scoring: Platform) -> None:
    result = await cli("--tenant", "acme", "scores", "authors", "acme", "--window", "30d", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "opinion leaders of acme (30d)" in result.output
    assert "@star ✓ Star Person" in result.output
    assert "@fan" in result.output
    assert "@critic" not in result.output
    request = scoring.scoring.requests("ListTopAuthors")[0]
    assert (request.label, request.limit, request.window.seconds) == ("acme", 2, 30 * 86400)
    result = await cli("--tenant", "acme", "scores", "authors", "acme", "--json")
    assert [a["rank"] for a in json.loads(result.stdout)] == [1, 2, 3]
    result = await cli("scores", "authors", "acme", "--limit", "500")
    assert result.exit_code == 1
    assert "--limit" in result.output


async def test_cascades_orders_and_single_cascade(cli: RunCli, scoring: Platform) -> None:
    result = await cli("--tenant", "acme", "scores", "cascades", "acme", "--order", "virality")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("simulated:deep") < out.index("simulated:big")
    assert "simulated:theirs" not in out
    assert scoring.scoring.requests("ListCascades")[0].order == scoring_pb2.CASCADE_ORDER_STRUCTURAL_VIRALITY
    result = await cli("--tenant", "acme", "scores", "cascades", "acme", "--order", "loudness")
    assert result.exit_code == 1
    assert "--order" in result.output
    result = await cli("--tenant", "acme", "scores", "cascade", "simulated:b7")
    assert result.exit_code == 0, result.output
    assert "cascade of simulated:big" in result.output
    assert "50 (depth 3)" in result.output
    result = await cli("--tenant", "acme", "scores", "cascade", "simulated:theirs")
    assert result.exit_code == 1
    assert "not_found" in result.output
    result = await cli("--tenant", "acme", "scores", "cascade", "nocolon")
    assert result.exit_code == 1
    assert "mention_id" in result.output


async def test_alerts_list_newest_first_merging_labels(cli: RunCli, scoring: Platform) -> None:
    result = await cli("--tenant", "acme", "scores", "alerts")
    assert result.exit_code == 0, result.output
    assert "3 alert(s)" in result.output
    result = await cli("--tenant", "acme", "scores", "alerts", "-l", "acme", "-l", "globex", "--json")
    assert [a["id"] for a in json.loads(result.stdout)] == ["g1", "a2", "a1"]
    result = await cli("--tenant", "acme", "scores", "alerts", "--label", "acme", "--limit", "1", "--json")
    assert [a["id"] for a in json.loads(result.stdout)] == ["a2"]


async def test_alerts_follow_replays_then_streams(cli: RunCli, scoring: Platform) -> None:
    scoring.scoring.live_alerts.append(alert("live", "acme", 90, message="live one"))
    result = await cli(
        "--tenant", "acme", "scores", "alerts", "--follow", "--label", "acme", "--since", "2026-06-03T08:10Z"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "a1" not in out
    assert out.index("Shitstorm") < out.index("live one")
    assert "2 alert(s)" in out
    assert "resume with: resonanz scores alerts --follow --since 2026-06-03T09:30:00Z" in out
    request = scoring.scoring.requests("StreamAlerts")[0]
    assert list(request.labels) == ["acme"]
    assert request.since.ToJsonString() == "2026-06-03T08:10:00Z"
    result = await cli("--tenant", "acme", "scores", "alerts", "--follow", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["id"] for line in lines] == ["live"]
    assert not scoring.scoring.requests("StreamAlerts")[1].HasField("since")


async def test_alerts_since_needs_follow(cli: RunCli, scoring: Platform) -> None:
    result = await cli("scores", "alerts", "--since", "2026-06-03T08:10Z")
    assert result.exit_code == 1
    assert "--follow" in result.output


async def test_draft_advice(cli: RunCli, scoring: Platform) -> None:
    result = await cli(
        "--tenant",
        "acme",
        "scores",
        "draft",
        "Unser Sommer-Sale startet morgen",
        "--network",
        "simulated",
        "--account",
        "@acme",
        "--language",
        "de",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "sentiment positive" in out
    assert "32 / 280" in out
    assert "no hashtags" in out
    assert "Tue 09:00 UTC (mean 42.5, 12 posts)" in out
    request = scoring.scoring.requests("ScoreDraft")[0]
    assert (list(request.networks), request.account, request.language) == (["simulated"], "@acme", "de")
    result = await cli("scores", "draft", "x" * 300, "--json")
    data = json.loads(result.stdout)
    assert [a["network"] for a in data["advice"]] == ["longnet", "simulated"]
    assert data["advice"][1]["suggestions"][0] == "too long by 20 characters"
    assert "best_times" not in data["advice"][0]


async def test_draft_from_stdin_and_validation(cli: RunCli, scoring: Platform) -> None:
    result = await cli("scores", "draft", "-", "--network", "simulated", input="this is bad #sale\n")
    assert result.exit_code == 0, result.output
    assert "sentiment negative" in result.output
    assert scoring.scoring.requests("ScoreDraft")[0].text == "this is bad #sale\n"
    result = await cli("scores", "draft", "hello", "--network", "nowhere")
    assert result.exit_code == 1
    assert "networks[0]" in result.output
    assert "unknown network" in result.output
