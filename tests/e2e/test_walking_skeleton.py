"""The walking skeleton, end to end, through the real console scripts and real gRPC.

The whole platform runs as in ``make run`` (:class:`EmbeddedPlatform`: all three services, every
installed plugin — here the simulated network found through its entry point), on the real broker and
on each database. The ``resonanz`` CLI is run as a subprocess, exactly as a user would:

1. add a listening query for the brand and connect the brand's account,
2. create a post to the simulated network and watch it until it is published (publishing → Kafka →
   worker → network → results),
3. tail the mentions of the brand: replies to that post and organic mentions arrive through listening
   and ``mentions.raw``,
4. show the brand's scores, computed by scoring from those mentions.

A second walk goes through a marketing team's review: roles, a one-step approval policy, a post that
waits in review until an approver (not its author) approves it, and a CSV bulk import.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from resonanz_embedded.platform import EmbeddedPlatform
from resonanz_sdk.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CLI = str(Path(sys.executable).with_name("resonanz"))


@pytest.fixture
async def platform(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> AsyncIterator[EmbeddedPlatform]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        data_dir=tmp_path,
        topic_prefix=topic_prefix,
        consumer_group_prefix=f"{topic_prefix}resonanz",
        plugins="simulated",
        publishing_port=0,
        listening_port=0,
        scoring_port=0,
        metrics_port=0,
        simulated_speed=120.0,
        poll_interval_seconds=0.3,
        dispatch_interval_seconds=0.2,
        watch_poll_interval_seconds=0.3,
    )
    async with EmbeddedPlatform(settings) as running:
        yield running


async def resonanz(platform: EmbeddedPlatform, *args: str, limit_s: float = 60.0) -> str:
    """Run the real ``resonanz`` console script against the running platform; return its stdout."""
    code, out, err = await run_cli(platform, *args, limit_s=limit_s)
    command = " ".join(args)
    assert code == 0, f"resonanz {command} failed ({code}):\n{out}\n{err}"
    return out


async def run_cli(platform: EmbeddedPlatform, *args: str, limit_s: float = 60.0) -> tuple[int, str, str]:
    """Run the ``resonanz`` console script; its exit code, stdout and stderr."""
    ports = platform.ports()
    env = {
        **os.environ,
        "RESONANZ_PUBLISHING_ADDR": f"127.0.0.1:{ports['publishing']}",
        "RESONANZ_LISTENING_ADDR": f"127.0.0.1:{ports['listening']}",
        "RESONANZ_SCORING_ADDR": f"127.0.0.1:{ports['scoring']}",
        "RESONANZ_TENANT": "acme",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_post_published_mentions_collected_and_scored(platform: EmbeddedPlatform) -> None:
    out = await resonanz(
        platform, "queries", "add", "brand", "--expression", "Resonanz OR @resonanz", "--label", "Resonanz"
    )
    assert "Resonanz" in out

    out = await resonanz(
        platform, "accounts", "connect", "simulated", "@resonanz", "--credential", "access_token=demo-token"
    )
    assert "@resonanz" in out
    assert "demo-token" not in out

    out = await resonanz(
        platform,
        "posts",
        "create",
        "--text",
        "Hallo Welt! Unser neues Produkt ist da #launch",
        "--target",
        "simulated:@resonanz",
        "--watch",
    )
    assert "PUBLISHED" in out.upper()
    assert "FAILED" not in out.upper()

    out = await resonanz(platform, "posts", "list")
    assert "Hallo Welt" in out

    out = await resonanz(platform, "mentions", "tail", "--label", "Resonanz", "--limit", "5", limit_s=90)
    assert out.lower().count("simulated") >= 5 or len(re.findall(r"@\w+", out)) >= 5

    # Scores are materialised asynchronously from mentions.scored: poll until they show up.
    for _ in range(60):
        out = await resonanz(platform, "scores", "show", "Resonanz")
        match = re.search(r"mentions\D*(\d+)", out, re.IGNORECASE)
        if match and int(match.group(1)) > 0:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail(f"no scored mentions for Resonanz:\n{out}")

    # Another tenant sees nothing of acme's.
    other = await resonanz(platform, "--tenant", "other", "posts", "list")
    assert "Hallo Welt" not in other


async def test_review_workflow_and_csv_import(platform: EmbeddedPlatform, tmp_path: Path) -> None:
    await resonanz(
        platform, "accounts", "connect", "simulated", "@resonanz", "--credential", "access_token=t"
    )
    await resonanz(platform, "--as", "alex", "workspace", "member", "set", "alex", "admin")
    await resonanz(platform, "--as", "alex", "workspace", "member", "set", "jana", "editor")
    await resonanz(platform, "--as", "alex", "workspace", "member", "set", "petra", "approver")
    await resonanz(platform, "--as", "alex", "workspace", "policy", "set", "--step", "brand=1")

    out = await resonanz(
        platform, "--as", "jana", "posts", "create", "--text", "Bald: unser Adventskalender", "--target",
        "simulated:@resonanz", "--json",
    )  # fmt: skip
    post_id = re.search(r'"id":\s*"([0-9a-f]{32})"', out)
    assert post_id is not None, out
    assert "IN_REVIEW" in out

    code, out, err = await run_cli(platform, "--as", "jana", "posts", "approve", post_id.group(1))
    assert code != 0
    assert "PERMISSION_DENIED" in (out + err).upper() or "approver" in (out + err)

    await resonanz(platform, "--as", "petra", "posts", "approve", post_id.group(1), "--note", "passt")
    out = await resonanz(platform, "--as", "petra", "posts", "watch", post_id.group(1))
    assert "PUBLISHED" in out.upper()

    audit = await resonanz(platform, "posts", "audit", post_id.group(1))
    for action in ("created", "approved", "scheduled", "published"):
        assert action in audit, audit

    csv_file = tmp_path / "posts.csv"
    csv_file.write_text(
        "text,targets,draft\nErster Import,simulated:@resonanz,true\nZweiter Import,simulated:@nobody,true\n",
        encoding="utf-8",
    )
    code, out, err = await run_cli(platform, "--as", "jana", "posts", "import", str(csv_file))
    assert code == 1, out + err
    assert "@nobody" in out + err
    listed = await resonanz(platform, "posts", "list", "--status", "draft")
    assert "Erster Import" in listed
    assert "Zweiter Import" not in listed
