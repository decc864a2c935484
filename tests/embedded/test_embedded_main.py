"""``resonanz-embedded`` — what ``make run`` starts — as a user runs it: the real console script.

Nothing is given to it but a data directory and free ports: it starts its own embedded broker, keeps
its state in SQLite files there, loads the simulated network by entry point, prints the next steps,
answers the CLI, and on Ctrl-C (SIGINT) stops everything it started, broker included.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


async def read_until(stream: asyncio.StreamReader, marker: str, limit_s: float) -> str:
    seen = ""
    async with asyncio.timeout(limit_s):
        while marker not in seen:
            line = await stream.readline()
            if not line:
                break
            seen += line.decode()
    return seen


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_embedded_default_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RESONANZ_")} | {
        "RESONANZ_DATA_DIR": str(tmp_path),
        "RESONANZ_PUBLISHING_PORT": "0",
        "RESONANZ_LISTENING_PORT": "0",
        "RESONANZ_SCORING_PORT": "0",
        "RESONANZ_METRICS_PORT": "0",
        "COLUMNS": "300",
    }
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "resonanz-embedded"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        banner = await read_until(proc.stdout, "Stop with Ctrl-C", limit_s=60)
        assert "Resonanz is running" in banner, banner
        assert "resonanz posts create" in banner
        assert "resonanz accounts connect simulated @resonanz" in banner
        addresses = dict(re.findall(r"RESONANZ_(\w+)_ADDR=(127\.0\.0\.1:\d+)", banner))
        assert set(addresses) == {"PUBLISHING", "LISTENING", "SCORING"}, banner
        broker_port = re.search(r"broker 127\.0\.0\.1:(\d+)", banner)
        assert broker_port is not None
        databases = sorted(name for name in os.listdir(tmp_path) if name.endswith(".db"))
        assert databases == ["listening.db", "publishing.db", "scoring.db"]

        cli_env = env | {f"RESONANZ_{name}_ADDR": addr for name, addr in addresses.items()}
        cli = await asyncio.create_subprocess_exec(
            str(BIN / "resonanz"), "plugins", "list", env=cli_env, stdout=asyncio.subprocess.PIPE
        )
        listed, _ = await cli.communicate()
        assert cli.returncode == 0
        assert "simulated" in listed.decode()
        cli = await asyncio.create_subprocess_exec(
            str(BIN / "resonanz"), "posts", "list", env=cli_env, stdout=asyncio.subprocess.PIPE
        )
        await cli.communicate()
        assert cli.returncode == 0

        tansu = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and f"127.0.0.1:{broker_port.group(1)}" in _cmdline(int(pid))
        ]
        assert tansu, "the embedded broker runs as a child process"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0
    assert not any(pid_alive(pid) for pid in tansu), "the broker stops with the platform"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
