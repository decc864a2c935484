"""``resonanz mentions`` against a test double of the listening service on a real gRPC server.

The double's StreamMentions never ends on its own (like the real one, it keeps streaming new
mentions), so ``tail --limit`` must stop by itself. The e2e test runs the CLI against the real service.
"""

from __future__ import annotations

import asyncio
import re

from cli_doubles import Platform, RunCli, make_mention


def _mention_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "mention number" in line]


def _cursor(output: str) -> str:
    match = re.search(r"resume with: resonanz mentions tail --cursor (\S+)", output)
    assert match is not None, output
    return match.group(1)


async def test_tail_limit_stops_and_prints_the_cursor(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(make_mention(i) for i in range(1, 4))
    result = await cli("--tenant", "acme", "mentions", "tail", "--limit", "5")
    assert result.exit_code == 0, result.output
    lines = _mention_lines(result.output)
    assert len(lines) == 5  # 3 stored, then 2 live ones
    assert [int(re.search(r"mention number (\d+)", line).group(1)) for line in lines] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert "5 mention(s)" in result.output
    assert _cursor(result.output) == "000000000005"
    assert platform.listening.tenants == ["acme"]
    # the CLI cancelled the stream instead of leaving it open
    for _ in range(100):
        if platform.listening.streams_open == 0:
            break
        await asyncio.sleep(0.01)
    assert platform.listening.streams_open == 0
    assert platform.listening.streams_cancelled == 1


async def test_tail_resumes_from_the_cursor(cli: RunCli, platform: Platform) -> None:
    first = await cli("mentions", "tail", "--limit", "3")
    cursor = _cursor(first.output)
    second = await cli("mentions", "tail", "--cursor", cursor, "--limit", "2")
    assert second.exit_code == 0, second.output
    assert [line.split("mention number ")[1].split()[0] for line in _mention_lines(second.output)] == [
        "4",
        "5",
    ]
    assert platform.listening.stream_requests[-1].cursor == cursor


async def test_tail_sends_label_and_network_filters(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(
        [make_mention(1, label="globex"), make_mention(2, label="acme", network="other"), make_mention(3)]
    )
    result = await cli("mentions", "tail", "--label", "acme", "--network", "simulated", "--limit", "1")
    assert result.exit_code == 0, result.output
    [line] = _mention_lines(result.output)
    assert "mention number 3 about acme" in line
    request = platform.listening.stream_requests[-1]
    assert list(request.labels) == ["acme"]
    assert list(request.networks) == ["simulated"]


async def test_tail_limit_must_be_positive(cli: RunCli, platform: Platform) -> None:
    result = await cli("mentions", "tail", "--limit", "0")
    assert result.exit_code == 1
    assert platform.listening.stream_requests == []


async def test_tail_unavailable(cli: RunCli, unused_address: str) -> None:
    result = await cli("mentions", "tail", "--limit", "1", env={"RESONANZ_LISTENING_ADDR": unused_address})
    assert result.exit_code == 2
    assert "make run" in result.output


async def test_search_prints_matches(cli: RunCli, platform: Platform) -> None:
    platform.listening.mentions.extend(
        make_mention(i, label="acme" if i % 2 else "globex") for i in range(1, 7)
    )
    result = await cli("mentions", "search", "about globex")
    assert result.exit_code == 0, result.output
    assert "3 mention(s)" in result.output
    assert "@user2" in result.output
    assert "@user1 " not in result.output


async def test_search_violation_is_printed(cli: RunCli) -> None:
    result = await cli("mentions", "search", " ")
    assert result.exit_code == 1
    assert "  - text: must not be empty" in result.output.splitlines()
