"""``resonanz backfills list|show|watch|cancel`` against the listening double on a real gRPC server."""

from __future__ import annotations

import asyncio
import json

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
from cli_doubles import Platform, RunCli


async def _start(cli: RunCli, platform: Platform, *, steps: int = 4) -> str:
    platform.listening.backfill_steps = steps
    added = await cli("--tenant", "acme", "queries", "add", "acme", "-e", "acme", "-l", "acme")
    assert added.exit_code == 0, added.output
    query_id = next(iter(platform.listening.queries))
    started = await cli(
        "--tenant", "acme", "queries", "backfill", query_id, "--since", "2026-11-01", "--detach", "--json"
    )
    assert started.exit_code == 0, started.output
    backfill_id: str = json.loads(started.output)["backfill_id"]
    return backfill_id


async def test_list_show_and_tenant_walls(cli: RunCli, platform: Platform) -> None:
    backfill_id = await _start(cli, platform)
    job = platform.listening.jobs[backfill_id]
    assert job.task is not None
    await job.task

    listed = await cli("--tenant", "acme", "backfills", "list")
    assert listed.exit_code == 0, listed.output
    assert "1 backfill" in listed.output
    assert backfill_id in listed.output
    assert "succeeded" in listed.output

    query_id = job.progress.query_id
    by_query = await cli("--tenant", "acme", "backfills", "list", "--query", query_id, "--json")
    assert [b["backfill_id"] for b in json.loads(by_query.output)] == [backfill_id]

    shown = await cli("--tenant", "acme", "backfills", "show", backfill_id)
    assert shown.exit_code == 0, shown.output
    assert "simulated" in shown.output
    assert "2026-11-01 00:00:00Z" in shown.output or "2026-10-31" in shown.output  # local midnight

    assert "0 backfills" in (await cli("--tenant", "globex", "backfills", "list")).output
    hidden = await cli("--tenant", "globex", "backfills", "show", backfill_id)
    assert hidden.exit_code == 1
    assert "not_found" in hidden.output


async def test_watch_follows_a_running_backfill_to_its_end(cli: RunCli, platform: Platform) -> None:
    backfill_id = await _start(cli, platform, steps=20)
    result = await cli("--tenant", "acme", "backfills", "watch", backfill_id)
    assert result.exit_code == 0, result.output
    assert platform.listening.jobs[backfill_id].progress.state == listening_pb2.BACKFILL_STATE_SUCCEEDED
    assert "succeeded" in result.output
    assert "100.0%" in result.output


async def test_cancel_ends_a_running_backfill_and_watch_exits_with_1(cli: RunCli, platform: Platform) -> None:
    platform.listening.step_seconds = 5.0  # it would run for minutes
    backfill_id = await _start(cli, platform, steps=100)
    cancelled = await cli("--tenant", "acme", "backfills", "cancel", backfill_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.output
    assert platform.listening.jobs[backfill_id].progress.state == listening_pb2.BACKFILL_STATE_CANCELLED

    watched = await cli("--tenant", "acme", "backfills", "watch", backfill_id, "--json")
    assert watched.exit_code == 1, watched.output
    last = [json.loads(line) for line in watched.output.splitlines() if line.startswith("{")][-1]
    assert last["state"] == "BACKFILL_STATE_CANCELLED"
    assert f"backfill {backfill_id} cancelled" in watched.output

    again = await cli("--tenant", "acme", "backfills", "cancel", backfill_id, "--json")
    assert again.exit_code == 0  # cancelling a finished backfill changes nothing
    assert json.loads(again.output)["state"] == "BACKFILL_STATE_CANCELLED"


async def test_watch_sees_a_cancel_from_elsewhere(cli: RunCli, platform: Platform) -> None:
    platform.listening.step_seconds = 5.0
    backfill_id = await _start(cli, platform, steps=100)
    job = platform.listening.jobs[backfill_id]

    async def cancel_soon() -> None:  # another user cancels while this one watches
        await asyncio.sleep(0.3)
        assert job.task is not None
        job.task.cancel()
        job.progress.state = listening_pb2.BACKFILL_STATE_CANCELLED
        job.publish()

    canceller = asyncio.ensure_future(cancel_soon())
    watched = await cli("--tenant", "acme", "backfills", "watch", backfill_id)
    await canceller
    assert watched.exit_code == 1, watched.output
    assert "cancelled" in watched.output


async def test_unknown_backfill(cli: RunCli) -> None:
    for command in ("show", "watch", "cancel"):
        result = await cli("backfills", command, "nope")
        assert result.exit_code == 1, command
        assert "not_found" in result.output
