"""Fixtures of the CLI tests: test doubles of the services on a real gRPC server, and a CLI runner.

The CLI is synchronous (it uses blocking gRPC stubs), so it runs in a worker thread while the
servers answer on the test's event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping

import pytest
from cli_doubles import LOGIN_NAME, Platform, RunCli, start_platform
from resonanz_cli.app import app
from typer.testing import CliRunner, Result


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    started = await start_platform()
    try:
        yield started
    finally:
        await started.server.stop(grace=0)


@pytest.fixture
def cli(platform: Platform) -> RunCli:
    """``await cli("posts", "list", env={...}, input="...")``: runs ``resonanz`` against the doubles.

    The login name (the default actor) is ``cli-tester``; ``input`` is what the user types at prompts.
    """
    runner = CliRunner()

    async def run(
        *args: str, env: Mapping[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        full_env: dict[str, str | None] = {
            **platform.env,
            "RESONANZ_TENANT": None,
            "RESONANZ_ACTOR": None,
            "LOGNAME": LOGIN_NAME,
            "COLUMNS": "200",
            **(env or {}),
        }
        return await asyncio.wait_for(
            asyncio.to_thread(runner.invoke, app, list(args), env=full_env, input=input), timeout=60
        )

    return run


@pytest.fixture
def unused_address() -> str:
    """A loopback address nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
