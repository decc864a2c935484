"""Fault injection: make the next calls of an operation fail the way real networks fail.

Faults come from ``RESONANZ_SIMULATED_FAULTS`` (parsed once, when a network is created) or from
:meth:`FaultInjector.add`. The spec is comma-separated ``operation:kind:count[:retry_after]``, e.g.
``publish:rate_limited:2:30,search:transient:1``. ``operation`` is a network method name
(``publish``, ``reply``, ``delete``, ``search``, ``stream`` (when a stream connects), ``engagement``,
``find_published``) or ``*`` for any.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum

from resonanz_sdk.errors import (
    AuthenticationFailedError,
    ConfigurationError,
    NetworkError,
    PermanentNetworkError,
    RateLimitedError,
    TransientNetworkError,
)

OPERATIONS = frozenset(
    {"publish", "reply", "delete", "search", "stream", "engagement", "find_published", "*"}
)


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AUTH = "auth"


@dataclass
class _Fault:
    operation: str
    kind: FaultKind
    remaining: int
    retry_after: float | None


class FaultInjector:
    """Injected failures of one network instance, consumed in the order they were added."""

    def __init__(self, network: str) -> None:
        self._network = network
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def add(
        self, operation: str, kind: FaultKind | str, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Make the next ``count`` calls of ``operation`` fail with ``kind``."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(_Fault(operation, FaultKind(kind), count, retry_after))

    def add_spec(self, spec: str) -> None:
        """Add the faults of a ``RESONANZ_SIMULATED_FAULTS`` value; malformed: ConfigurationError."""
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            fields = item.split(":")
            try:
                if len(fields) not in (3, 4):
                    raise ValueError("expected operation:kind:count[:retry_after]")
                retry_after = float(fields[3]) if len(fields) == 4 else None
                self.add(fields[0], FaultKind(fields[1]), int(fields[2]), retry_after)
            except ValueError as exc:
                raise ConfigurationError(f"RESONANZ_SIMULATED_FAULTS: bad fault {item!r}: {exc}") from exc

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        """How many injected failures are still to come."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def check(self, operation: str) -> None:
        """Raise the next injected failure for ``operation``, if one is pending."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.operation in (operation, "*"):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    raise self._error(fault, operation)

    def _error(self, fault: _Fault, operation: str) -> NetworkError:
        message = f"injected {fault.kind.value} fault in {operation}"
        if fault.kind is FaultKind.RATE_LIMITED:
            return RateLimitedError(self._network, message, retry_after=fault.retry_after)
        if fault.kind is FaultKind.TRANSIENT:
            return TransientNetworkError(self._network, message, retry_after=fault.retry_after)
        if fault.kind is FaultKind.AUTH:
            return AuthenticationFailedError(self._network, message)
        return PermanentNetworkError(self._network, message)
