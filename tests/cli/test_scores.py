"""``resonanz scores`` against a test double of the scoring service on a real gRPC server.

The double stands in for the scoring service, which is being built concurrently; the e2e test runs
the same commands against the real service.
"""

from __future__ import annotations

import json

import pytest
from cli_doubles import Platform, RunCli, make_mention
from resonanz.common.v1 import score_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as scoring_pb2


def _scored(seq: int, label: str, sentiment: score_pb2.Sentiment.ValueType) -> scoring_pb2.ScoredMention:
    mention = make_mention(seq, label=label)
    mention.hashtags.extend(["#summer"] if seq % 2 else ["#summer", "#sale"])
    return scoring_pb2.ScoredMention(
        mention=mention,
        score=score_pb2.MentionScore(
            mention_id=mention.id,
            sentiment=sentiment,
            polarity=0.5,
            estimated_reach=1000 * seq,
            engagement=seq,
        ),
    )


@pytest.fixture
def scored(platform: Platform) -> None:
    platform.scoring.scored.extend(
        [
            _scored(1, "acme", score_pb2.SENTIMENT_POSITIVE),
            _scored(2, "acme", score_pb2.SENTIMENT_POSITIVE),
            _scored(3, "acme", score_pb2.SENTIMENT_NEGATIVE),
            _scored(4, "acme", score_pb2.SENTIMENT_NEUTRAL),
            _scored(5, "globex", score_pb2.SENTIMENT_NEGATIVE),
        ]
    )


@pytest.mark.usefixtures("scored")
@pytest.mark.parametrize(
    ("window", "seconds"), [(None, 86400), ("7d", 604800), ("90m", 5400), ("1d12h", 129600)]
)
async def test_show_sends_the_window_and_prints_the_panel(
    cli: RunCli, platform: Platform, window: str | None, seconds: int
) -> None:
    args = ["--tenant", "acme", "scores", "show", "acme"] + (["--window", window] if window else [])
    result = await cli(*args)
    assert result.exit_code == 0, result.output
    assert platform.scoring.windows == [seconds]
    assert platform.scoring.tenants == ["acme"]
    out = result.output
    assert "scores of acme" in out
    assert "2 / 1 / 1" in out  # positive / neutral / negative
    assert "+0.25" in out  # net sentiment (2 - 1) / 4
    assert "10,000" in out  # reach 1000 + 2000 + 3000 + 4000
    assert "+12.5" in out  # reputation index
    assert "80.0%" in out  # share of voice 4 / 5
    assert "#summer" in out
    assert "#sale" in out
    assert "@user1" in out


@pytest.mark.parametrize("window", ["7x", "0h", "400d", "h", "24 h", "-1d", ""])
async def test_bad_window_is_a_user_error(cli: RunCli, platform: Platform, window: str) -> None:
    result = await cli("scores", "show", "acme", "--window", window)
    assert result.exit_code == 1, result.output
    assert "--window" in result.output
    assert platform.scoring.windows == []


async def test_show_unknown_label(cli: RunCli) -> None:
    result = await cli("scores", "show", "nobody")
    assert result.exit_code == 1
    assert "not_found: no scores for label 'nobody'" in result.output


@pytest.mark.usefixtures("scored")
async def test_scored_mentions_table(cli: RunCli) -> None:
    result = await cli("scores", "mentions", "acme", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "scored mentions of acme" in result.output
    assert "@user3" in result.output
    assert "@user4" not in result.output
    assert "negative" in result.output
    assert "3,000" in result.output


async def test_scores_unavailable(cli: RunCli, unused_address: str) -> None:
    result = await cli("scores", "show", "acme", env={"RESONANZ_SCORING_ADDR": unused_address})
    assert result.exit_code == 2
    assert "scoring service" in result.output
    assert "make run" in result.output


@pytest.mark.usefixtures("scored")
async def test_show_and_mentions_print_json(cli: RunCli) -> None:
    shown = await cli("--tenant", "acme", "scores", "show", "acme", "--json")
    assert shown.exit_code == 0, shown.output
    scores = json.loads(shown.output)
    assert scores["label"] == "acme"
    assert int(scores["mention_count"]) == 4

    listed = await cli("--tenant", "acme", "scores", "mentions", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)
    assert len(items) == 4
    assert {item["mention"]["labels"][0] for item in items} == {"acme"}
