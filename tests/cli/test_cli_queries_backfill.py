"""``resonanz queries backfill`` against the listening double: progress until the end, --detach,
--json lines, idempotent retries, failures and bad ranges."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
from cli_doubles import Platform, RunCli
from resonanz.common.v1 import mention_pb2


async def _add(cli: RunCli, platform: Platform) -> mention_pb2.ListeningQuery:
    result = await cli("--tenant", "acme", "queries", "add", "acme", "-e", "acme", "-l", "acme")
    assert result.exit_code == 0, result.output
    [query] = platform.listening.queries.values()
    return query


async def test_backfill_follows_progress_to_the_end(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli(
        "--tenant",
        "acme",
        "queries",
        "backfill",
        query.id,
        "--since",
        "2026-11-01T00:00Z",
        "--until",
        "2026-11-08T00:00:00+00:00",
        "--network",
        "simulated",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.listening.backfill_requests
    assert request.query_id == query.id
    assert request.since.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert request.until.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 8, tzinfo=UTC)
    assert list(request.networks) == ["simulated"]
    assert request.request_id  # a fresh id, so that the service can de-duplicate a retry
    [job] = platform.listening.jobs.values()
    assert job.progress.state == listening_pb2.BACKFILL_STATE_SUCCEEDED
    assert "succeeded" in result.output
    assert "100.0%" in result.output
    assert "40 posts, 16 new mentions" in result.output  # the final panel's totals


async def test_backfill_json_prints_every_update_as_a_line(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    result = await cli("--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-01", "--json")
    assert result.exit_code == 0, result.output
    updates = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(updates) >= 2
    fractions = [u.get("fraction_done", 0.0) for u in updates]
    assert fractions == sorted(fractions)
    assert updates[-1]["state"] == "BACKFILL_STATE_SUCCEEDED"
    assert updates[-1]["fraction_done"] == 1.0


async def test_detach_prints_the_id_and_the_backfill_runs_on(cli: RunCli, platform: Platform) -> None:
    platform.listening.backfill_steps = 50
    query = await _add(cli, platform)
    result = await cli(
        "--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-01", "--detach"
    )
    assert result.exit_code == 0, result.output
    [job] = platform.listening.jobs.values()
    assert job.progress.backfill_id in result.output.splitlines()
    assert f"resonanz backfills watch {job.progress.backfill_id}" in result.output
    assert job.task is not None
    await job.task  # the service finishes it although nobody watches
    assert job.progress.state == listening_pb2.BACKFILL_STATE_SUCCEEDED


async def test_a_retry_with_the_same_request_id_joins_the_first_backfill(
    cli: RunCli, platform: Platform
) -> None:
    query = await _add(cli, platform)
    args = ("--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-01")
    first = await cli(*args, "--request-id", "retry-1", "--detach")
    second = await cli(*args, "--request-id", "retry-1")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert len(platform.listening.jobs) == 1
    [job] = platform.listening.jobs.values()
    assert job.progress.backfill_id in first.output
    assert job.progress.backfill_id in second.output


async def test_a_failed_backfill_exits_with_1_and_names_the_network(cli: RunCli, platform: Platform) -> None:
    platform.listening.failing_networks.add("simulated")
    query = await _add(cli, platform)
    result = await cli("--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-01")
    assert result.exit_code == 1, result.output
    assert "failed" in result.output
    assert "HTTP 403" in result.output


async def test_bad_ranges_and_unknown_queries(cli: RunCli, platform: Platform) -> None:
    query = await _add(cli, platform)
    backwards = await cli(
        "--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-08", "--until", "2026-11-01"
    )
    assert backwards.exit_code == 1
    assert "--until" in backwards.output
    garbage = await cli("--tenant", "acme", "queries", "backfill", query.id, "--since", "last week")
    assert garbage.exit_code == 1
    assert "--since" in garbage.output
    missing = await cli("--tenant", "acme", "queries", "backfill", query.id)
    assert missing.exit_code == 1
    assert "--since" in missing.output
    assert platform.listening.backfill_requests == []

    other = await cli("--tenant", "globex", "queries", "backfill", query.id, "--since", "2026-11-01")
    assert other.exit_code == 1
    assert "not_found" in other.output
    unknown = await cli(
        "--tenant", "acme", "queries", "backfill", query.id, "--since", "2026-11-01", "--network", "nope"
    )
    assert unknown.exit_code == 1
    assert "networks[0]" in unknown.output
