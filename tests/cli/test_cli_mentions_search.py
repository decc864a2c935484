"""``resonanz mentions search`` filters, paging and --json against the listening double."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cli_doubles import Platform, RunCli, make_mention


async def test_search_sends_every_filter(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(make_mention(i) for i in range(1, 4))
    result = await cli(
        "--tenant",
        "acme",
        "mentions",
        "search",
        '"mention number" -spam',
        "--label",
        "acme",
        "--network",
        "simulated",
        "--network",
        "mastodon",
        "--query",
        "q1",
        "--language",
        "de",
        "--since",
        "2026-11-01T00:00Z",
        "--until",
        "2026-11-02T12:00+01:00",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.listening.search_requests
    assert request.text == '"mention number" -spam'
    assert list(request.labels) == ["acme"]
    assert list(request.networks) == ["simulated", "mastodon"]
    assert list(request.query_ids) == ["q1"]
    assert list(request.languages) == ["de"]
    assert request.since.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert request.until.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 2, 11, tzinfo=UTC)
    assert request.page_size == 50


async def test_search_pages_until_the_limit(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(make_mention(i) for i in range(1, 1201))
    result = await cli("mentions", "search", "mention", "--limit", "1100", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert len(found) == 1100
    assert len({m["id"] for m in found}) == 1100
    sizes = [r.page_size for r in platform.listening.search_requests]
    assert sizes == [500, 500, 100]
    tokens = [r.page_token for r in platform.listening.search_requests]
    assert tokens[0] == ""
    assert all(tokens[1:])


async def test_search_stops_when_the_results_end(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(make_mention(i) for i in range(1, 8))
    result = await cli("mentions", "search", "mention", "--limit", "1000")
    assert result.exit_code == 0, result.output
    assert "7 mention(s) matching 'mention'" in result.output
    assert len(platform.listening.search_requests) == 1


async def test_search_rejects_a_backwards_range(cli: RunCli, platform: Platform) -> None:
    result = await cli("mentions", "search", "x", "--since", "2026-11-02", "--until", "2026-11-01")
    assert result.exit_code == 1
    assert "--until" in result.output
    assert platform.listening.search_requests == []
