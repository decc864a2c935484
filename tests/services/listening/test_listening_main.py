"""The ``resonanz-listening`` console script: refuses to run without a broker; serves and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("resonanz-listening"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
    base.update(values)
    return base


async def test_refuses_to_start_without_a_broker(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        SCRIPT, env=env(RESONANZ_DATA_DIR=str(tmp_path)), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert b"RESONANZ_KAFKA_BOOTSTRAP" in err


async def test_serves_health_then_stops_on_sigterm(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        SCRIPT,
        "--port",
        str(port),
        env=env(
            RESONANZ_KAFKA_BOOTSTRAP=kafka_bootstrap,
            RESONANZ_TOPIC_PREFIX=topic_prefix,
            RESONANZ_DATA_DIR=str(tmp_path),
            RESONANZ_PLUGINS="",
            RESONANZ_METRICS_PORT="0",
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="resonanz.listening.v1.ListeningService")
            response = await health.Check(request, wait_for_ready=True, timeout=30)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert (tmp_path / "listening.db").exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
