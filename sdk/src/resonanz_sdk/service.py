"""What every service role looks like to whoever runs it: its console script or the embedded runner.

Each service distribution exposes one class implementing :class:`ServiceApp`, constructed as
``App(settings, plugins)``; the embedded default starts all of them in one process.
"""

from __future__ import annotations

from typing import Protocol

from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings


class ServiceApp(Protocol):
    #: Role name, used in logs, metrics and consumer group ids ("publishing").
    name: str

    async def start(self) -> None:
        """Create tables, start consumers, background loops and the gRPC server; return when serving."""

    async def stop(self) -> None:
        """Stop gracefully: finish in-flight work, commit offsets, close the database."""

    @property
    def grpc_port(self) -> int:
        """The bound gRPC port (meaningful after ``start``; settings may ask for 0 = any free port)."""


class ServiceAppFactory(Protocol):
    def __call__(self, settings: Settings, plugins: PluginManager) -> ServiceApp: ...
