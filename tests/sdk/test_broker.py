"""The embedded Tansu broker: starts on a free port, answers Kafka, stops and frees its process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from resonanz_sdk.broker import EmbeddedBroker, free_port, kafka_metadata_ok
from resonanz_sdk.errors import BrokerError


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_starts_answers_metadata_and_stops_by_pid(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_dir=tmp_path)
    broker.start()
    try:
        pid = broker.pid
        assert pid is not None
        was_running = broker.running
        assert was_running
        assert process_exists(pid)
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1"
        assert kafka_metadata_ok(host, int(port))
        assert broker.log_path is not None
        assert broker.log_path.parent == tmp_path
    finally:
        broker.stop()
    assert not broker.running
    assert broker.pid is None
    assert not process_exists(pid)  # reaped, not a zombie
    assert not kafka_metadata_ok(host, int(port))
    assert port_is_free(int(port))
    broker.stop()  # idempotent
    with pytest.raises(BrokerError):
        _ = broker.bootstrap


async def test_context_manager_serves_a_real_kafka_client(tmp_path: Path) -> None:
    with EmbeddedBroker(log_dir=tmp_path) as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("probe", b"hello", partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("probe", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            record = await consumer.getone()
        finally:
            await consumer.stop()
        assert record.value == b"hello"
        pid = broker.pid
    assert pid is not None
    assert not process_exists(pid)


def test_requested_port_is_used(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedBroker(port=port, log_dir=tmp_path) as broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert kafka_metadata_ok("127.0.0.1", port)


def test_busy_port_gives_a_clear_error_and_leaves_no_process(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        broker = EmbeddedBroker(port=port, log_dir=tmp_path, startup_timeout=5)
        with pytest.raises(BrokerError, match="did not start"):
            broker.start()
        assert broker.pid is None
        assert not broker.running


def test_double_start_is_refused(tmp_path: Path) -> None:
    with EmbeddedBroker(log_dir=tmp_path) as broker, pytest.raises(BrokerError, match="already started"):
        broker.start()


def test_plain_tcp_listener_is_not_a_broker() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        # Accepts the connection but never answers: not ready.
        assert not kafka_metadata_ok("127.0.0.1", port, timeout=0.3)
