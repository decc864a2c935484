"""``resonanz queries show|update|status`` against the listening double on a real gRPC server."""

from __future__ import annotations

import json

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
from cli_doubles import Platform, RunCli
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import mention_pb2


async def _add(cli: RunCli, platform: Platform, tenant: str = "acme") -> mention_pb2.ListeningQuery:
    result = await cli(
        "--tenant", tenant, "queries", "add", "acme", "-e", "acme", "-l", "acme", "--language", "de"
    )
    assert result.exit_code == 0, result.output
    return next(q for q in platform.listening.queries.values() if q.tenant == tenant)


async def test_update_sends_exactly_the_options_given_in_the_mask(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli(
        "--tenant",
        "acme",
        "queries",
        "update",
        query.id,
        "--expression",
        "acme OR #acme",
        "--role",
        "competitor",
        "--disable",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.listening.update_requests
    assert list(request.update_mask) == ["expression", "role", "enabled"]
    assert request.expression == "acme OR #acme"
    assert request.role == mention_pb2.QUERY_ROLE_COMPETITOR
    assert request.enabled is False
    stored = platform.listening.queries[query.id]
    assert not stored.enabled
    assert list(stored.languages) == ["de"]  # not in the mask: untouched
    assert "acme OR #acme" in result.output
    assert "competitor" in result.output


async def test_update_clears_lists_and_enables(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli(
        "--tenant", "acme", "queries", "update", query.id, "--all-languages", "--enable", "--json"
    )
    assert result.exit_code == 0, result.output
    [request] = platform.listening.update_requests
    assert sorted(request.update_mask) == ["enabled", "languages"]
    assert list(request.languages) == []
    shown = json.loads(result.output)
    assert shown["id"] == query.id
    assert shown["enabled"] is True
    assert "languages" not in shown  # cleared

    replaced = await cli(
        "--tenant", "acme", "queries", "update", query.id, "--language", "en", "--language", "fr"
    )
    assert replaced.exit_code == 0, replaced.output
    assert list(platform.listening.queries[query.id].languages) == ["en", "fr"]


async def test_update_needs_something_to_change_and_no_contradictions(
    cli: RunCli, platform: Platform
) -> None:
    query = await _add(cli, platform)
    nothing = await cli("--tenant", "acme", "queries", "update", query.id)
    assert nothing.exit_code == 1
    assert "nothing to change" in nothing.output
    both = await cli("--tenant", "acme", "queries", "update", query.id, "--language", "de", "--all-languages")
    assert both.exit_code == 1
    assert "--all-languages" in both.output
    assert platform.listening.update_requests == []


async def test_update_of_another_tenants_query_is_not_found(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli("--tenant", "globex", "queries", "update", query.id, "--name", "mine now")
    assert result.exit_code == 1
    assert "not_found" in result.output
    assert platform.listening.queries[query.id].name == "acme"


async def test_update_violations_are_printed(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli("--tenant", "acme", "queries", "update", query.id, "--expression", " ")
    assert result.exit_code == 1
    assert "  - expression: must not be empty" in result.output.splitlines()


async def test_show_prints_the_query(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli("--tenant", "acme", "queries", "show", query.id)
    assert result.exit_code == 0, result.output
    assert query.id in result.output
    assert "1 listening query" in result.output
    missing = await cli("--tenant", "globex", "queries", "show", query.id)
    assert missing.exit_code == 1


def _ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


async def test_status_prints_a_row_per_network(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    platform.listening.collection[query.id] = [
        listening_pb2.CollectionState(
            network="simulated",
            owner="replica-a",
            lease_expires_at=_ts(1_795_000_000),
            last_polled_at=_ts(1_794_999_990),
            mentions_collected=12345,
            mode="poll",
        ),
        listening_pb2.CollectionState(
            network="mastodon",
            backoff_until=_ts(1_795_000_060),
            last_error="rate limited (HTTP 429), retry after 60 s",
            mode="stream",
        ),
    ]
    result = await cli("--tenant", "acme", "queries", "status", query.id)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    simulated = next(line for line in lines if "simulated" in line)
    assert "replica-a" in simulated
    assert "12,345" in simulated
    assert "poll" in simulated
    mastodon = next(line for line in lines if "mastodon" in line)
    assert "none" in mastodon  # no owner
    assert "2026-11-18" in mastodon  # the back-off time
    assert "HTTP 429" in result.output

    as_json = await cli("--tenant", "acme", "queries", "status", query.id, "--json")
    assert json.loads(as_json.output)["networks"][0]["owner"] == "replica-a"


async def test_status_of_a_query_nobody_collects(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli("--tenant", "acme", "queries", "status", query.id)
    assert result.exit_code == 0, result.output
    assert "not collected anywhere yet" in result.output


async def test_add_and_list_print_json(cli: RunCli, platform: Platform) -> None:
    added = await cli("--tenant", "acme", "queries", "add", "acme", "-e", "acme", "-l", "acme", "--json")
    assert added.exit_code == 0, added.output
    query = json.loads(added.output)
    assert query["expression"] == "acme"
    assert query["id"] in platform.listening.queries
    listed = await cli("--tenant", "acme", "queries", "list", "--json")
    assert [q["id"] for q in json.loads(listed.output)] == [query["id"]]
