"""Listening → scoring end to end, through the real platform and the real ``resonanz`` CLI.

The whole platform runs as in ``make run`` (:class:`EmbeddedPlatform`: publishing, listening and
scoring, the simulated network found through its entry point) on the real broker and on each
database. The ``resonanz`` console script runs as a subprocess, exactly as a marketer would use it:

1. a listening query for the brand (``Resonanz``) and one for a competitor (``Klangwerk``, which the
   simulated network's people talk about as well);
2. a campaign with a hashtag, and a post in it published to the simulated network;
3. mentions arrive (``mentions tail``), are searchable (``mentions search``) and a backfill of the
   last day reaches 100 %;
4. scoring turns them into figures: ``scores show`` for both labels, the ``dashboard`` with share of
   voice of both, opinion leaders (``authors``) and ``cascades``; every scored mention is on
   ``mentions.scored`` exactly once;
5. the campaign report is one self-contained HTML file, and a draft gets advice before it is posted.

The simulated network randomises who says what, so the assertions are about facts the platform must
produce (counts above zero, both labels present, no duplicates), not about exact numbers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_embedded.platform import EmbeddedPlatform
from resonanz_sdk.eventbus.topics import Topic, topic_name
from resonanz_sdk.settings import Settings

# A whole platform plus ~30 CLI subprocesses (1-2 s of start-up each) per test: more than the suite's
# default 120 s per test when the machine is loaded. The limit catches hangs, it is not a speed claim.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

CLI = str(Path(sys.executable).with_name("resonanz"))
TENANT = "acme"
BRAND = "Resonanz"
COMPETITOR = "Klangwerk"


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
        # Bigger search pages: the one-day backfill needs fewer round trips (the default is 100).
        listening_page_size=500,
    )
    async with EmbeddedPlatform(settings) as running:
        yield running


async def run_cli(platform: EmbeddedPlatform, *args: str, limit_s: float = 60.0) -> tuple[int, str, str]:
    """Run the ``resonanz`` console script against the running platform: exit code, stdout, stderr."""
    ports = platform.ports()
    env = {
        **os.environ,
        "RESONANZ_PUBLISHING_ADDR": f"127.0.0.1:{ports['publishing']}",
        "RESONANZ_LISTENING_ADDR": f"127.0.0.1:{ports['listening']}",
        "RESONANZ_SCORING_ADDR": f"127.0.0.1:{ports['scoring']}",
        "RESONANZ_TENANT": TENANT,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def resonanz(platform: EmbeddedPlatform, *args: str, limit_s: float = 60.0) -> str:
    """Run ``resonanz ARGS``; it must succeed; its stdout."""
    code, out, err = await run_cli(platform, *args, limit_s=limit_s)
    assert code == 0, f"resonanz {' '.join(args)} failed ({code}):\n{out}\n{err}"
    return out


async def resonanz_json(platform: EmbeddedPlatform, *args: str, limit_s: float = 60.0) -> Any:
    """Run ``resonanz ARGS --json``; the parsed JSON document it printed."""
    return json.loads(await resonanz(platform, *args, "--json", limit_s=limit_s))


async def eventually_json(platform: EmbeddedPlatform, *args: str, until: str, attempts: int = 80) -> Any:
    """Poll ``resonanz ARGS --json`` until the JSON path ``until`` holds something truthy.

    Scores are materialised asynchronously from ``mentions.scored``; a command is polled until the
    figure it shows exists (no timing is asserted: the loop ends by count, not by clock).
    """
    document: Any = None
    for _ in range(attempts):
        document = await resonanz_json(platform, *args)
        if _dig(document, until):
            return document
        await asyncio.sleep(0.5)
    pytest.fail(f"resonanz {' '.join(args)}: {until} never became non-empty:\n{document}")


async def eventually_scored(platform: EmbeddedPlatform, label: str, attempts: int = 80) -> str:
    """Poll ``resonanz scores show LABEL`` (a panel; it has no ``--json``) until it counts mentions."""
    out = ""
    for _ in range(attempts):
        out = await resonanz(platform, "scores", "show", label)
        match = re.search(r"mentions\D*(\d+)", out, re.IGNORECASE)
        if match and int(match.group(1)) > 0:
            return out
        await asyncio.sleep(0.5)
    pytest.fail(f"no scored mentions for {label}:\n{out}")


def _dig(document: Any, path: str) -> Any:
    """``document[a][b]`` for the path ``a.b``; the document itself for ``""``."""
    for part in filter(None, path.split(".")):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _as_int(value: Any) -> int:
    """Protobuf JSON prints int64 as a string and leaves zero out."""
    return int(value or 0)


async def scored_mention_ids(bootstrap: str, prefix: str) -> list[str]:
    """Every mention id the tenant has on ``mentions.scored``, in topic order (duplicates kept)."""
    topic = topic_name(Topic.MENTIONS_SCORED, prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer.client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        assert partitions, f"no partitions for {topic}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ids: list[str] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*partitions, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    envelope = EventEnvelope.FromString(record.value)
                    if envelope.tenant == TENANT and envelope.WhichOneof("payload") == "mention_scored":
                        ids.append(envelope.mention_scored.mention.id)
        return ids
    finally:
        await consumer.stop()


async def add_queries(platform: EmbeddedPlatform) -> tuple[str, str]:
    """The brand's and the competitor's listening queries; their ids."""
    brand = await resonanz_json(
        platform, "queries", "add", "brand", "--expression", f"{BRAND} OR @resonanz", "--label", BRAND
    )
    competitor = await resonanz_json(
        platform, "queries", "add", "competitor", "-e", COMPETITOR, "-l", COMPETITOR, "--role", "competitor"
    )
    assert brand["id"]
    assert competitor["id"] != brand["id"]
    return str(brand["id"]), str(competitor["id"])


async def backfill_last_day(platform: EmbeddedPlatform, query_id: str) -> list[dict[str, Any]]:
    """``resonanz queries backfill ID --since <1 day ago> --json``: every progress line it printed."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    code, out, err = await run_cli(platform, "queries", "backfill", query_id, "--since", since, "--json")
    assert code == 0, f"backfill failed ({code}):\n{out}\n{err}"
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_mentions_of_brand_and_competitor_arrive_are_searchable_and_backfilled(
    platform: EmbeddedPlatform,
) -> None:
    brand_id, competitor_id = await add_queries(platform)

    # The backfill runs in the listening service beside live collection; the CLI follows it.
    backfill = asyncio.create_task(backfill_last_day(platform, brand_id))

    # Live mentions of both arrive (the competitor is talked about less: one is enough).
    listed, *tails = await asyncio.gather(
        resonanz(platform, "queries", "list"),
        run_cli(platform, "mentions", "tail", "--label", BRAND, "--limit", "3", limit_s=90),
        run_cli(platform, "mentions", "tail", "--label", COMPETITOR, "--limit", "1", limit_s=90),
    )
    assert BRAND in listed
    assert COMPETITOR in listed
    for (code, out, err), count in zip(tails, (3, 1), strict=True):
        assert code == 0, f"mentions tail failed ({code}):\n{out}\n{err}"
        assert f"{count} mention(s)" in err, err
        assert len(out.strip().splitlines()) >= count, out

    progress = await backfill
    assert progress
    last = progress[-1]
    assert last["state"] == "BACKFILL_STATE_SUCCEEDED", last
    assert last["fraction_done"] == pytest.approx(1.0), last
    assert _as_int(last.get("fetched")) > 0, last
    assert _as_int(last.get("collected")) > 0, last

    # Stored mentions are searchable, each once, under their label and query.
    backfills, by_label, by_query, by_word, status = await asyncio.gather(
        resonanz_json(platform, "backfills", "list", "--query", brand_id),
        resonanz_json(platform, "mentions", "search", "", "--label", BRAND, "--limit", "1000"),
        resonanz_json(platform, "mentions", "search", "", "--query", brand_id, "--limit", "1000"),
        resonanz_json(platform, "mentions", "search", COMPETITOR, "--label", COMPETITOR),
        resonanz_json(platform, "queries", "status", competitor_id),
    )
    assert [b["state"] for b in backfills] == ["BACKFILL_STATE_SUCCEEDED"], backfills
    # Live collection goes on meanwhile, so the two searches need not list the same mentions.
    for found in (by_label, by_query):
        assert found, "mentions search found nothing for the brand"
        ids = [m["id"] for m in found]
        assert len(ids) == len(set(ids)), "a mention is listed twice by search"
        for mention in found:
            assert BRAND in mention["labels"], mention
    assert by_word, f"mentions search {COMPETITOR!r} found nothing"
    for mention in by_word:
        assert COMPETITOR in mention["labels"], mention
        assert COMPETITOR.casefold() in mention["text"].casefold(), mention
    assert "simulated" in json.dumps(status), status


async def test_campaign_post_scored_reported_and_draft_advised(
    platform: EmbeddedPlatform, topic_prefix: str, tmp_path: Path
) -> None:
    await add_queries(platform)
    await resonanz(
        platform, "accounts", "connect", "simulated", "@resonanz", "--credential", "access_token=t"
    )
    campaign = await resonanz_json(
        platform, "workspace", "campaigns", "create", "Winterklang", "--hashtag", "#winterklang"
    )
    campaign_id = campaign["id"]
    out = await resonanz(
        platform, "posts", "create", "--text", "Resonanz im Winter: der neue Klang ist da! #winterklang",
        "--target", "simulated:@resonanz", "--campaign", campaign_id, "--watch",
    )  # fmt: skip
    assert "PUBLISHED" in out.upper(), out
    assert "FAILED" not in out.upper(), out

    # Replies to the post and organic mentions of both labels are scored.
    await asyncio.gather(eventually_scored(platform, BRAND), eventually_scored(platform, COMPETITOR))
    dashboard = await eventually_json(platform, "scores", "dashboard", BRAND, until="share_of_voice")
    voices = json.dumps(dashboard["share_of_voice"])
    assert BRAND in voices, dashboard["share_of_voice"]
    assert COMPETITOR in voices, dashboard["share_of_voice"]
    assert _as_int(_dig(dashboard, "scores.mention_count")) > 0, dashboard["scores"]

    # Cascades and opinion leaders are materialised by their own streams: polled like the scores.
    authors, cascades, terminal = await asyncio.gather(
        eventually_json(platform, "scores", "authors", BRAND, "--window", "2d", until=""),
        eventually_json(platform, "scores", "cascades", BRAND, "--window", "2d", until=""),
        resonanz(platform, "scores", "dashboard", BRAND),
    )
    assert authors, "no opinion leaders for the brand"
    assert cascades, "no cascades for the brand"
    assert BRAND in terminal, terminal
    assert COMPETITOR in terminal, terminal

    # Every scored mention is on mentions.scored exactly once.
    scored = await scored_mention_ids(platform.kafka_bootstrap, topic_prefix)
    assert scored, "nothing on mentions.scored"
    twice = [mention_id for mention_id, n in Counter(scored).items() if n > 1]
    assert not twice, f"scored more than once: {twice[:10]}"

    # The campaign report: its post and the replies people wrote to it, then one self-contained HTML file.
    figures = await eventually_json(platform, "scores", "campaign-report", campaign_id, until="total.replies")
    assert _as_int(_dig(figures, "total.posts")) == 1, figures["total"]
    assert _as_int(_dig(figures, "total.reach")) > 0, figures["total"]
    assert [tag.lstrip("#") for tag in figures["hashtags"]] == ["winterklang"], figures
    report = tmp_path / "winterklang.html"
    code, out, err = await run_cli(platform, "scores", "campaign-report", campaign_id, "--out", str(report))
    assert code == 0, f"campaign-report failed ({code}):\n{out}\n{err}"
    assert f"wrote {report}" in out + err
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html"), html[:200]
    assert "<svg" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert campaign_id in html
    assert "#winterklang" in html

    # A draft gets advice before it is posted.
    draft = await resonanz_json(
        platform, "scores", "draft", "Unser Winter-Sale startet morgen, wir freuen uns! #sale #winter",
        "--network", "simulated", "--account", "@resonanz",
    )  # fmt: skip
    assert draft["language"] == "de", draft
    assert draft.get("sentiment", "").startswith("SENTIMENT_"), draft
    [advice] = draft["advice"]
    assert advice["network"] == "simulated", advice
    assert _as_int(advice.get("max_length")) > 0, advice
