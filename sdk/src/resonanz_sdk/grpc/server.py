"""One gRPC server per role, with health, reflection, error mapping, metrics and trace context.

    server = GrpcServer(
        host=settings.grpc_host, port=settings.scoring_port, name="scoring",
        services=[scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name],
        register=lambda s: scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, s),
    )
    port = await server.start()     # port 0 picks a free one
    ...
    await server.stop()              # health says NOT_SERVING, in-flight calls get ``grace`` seconds

Interceptors, outermost first: trace context, metrics (sees the final code), errors. Servicers must be
``async`` (coroutines or async generators, or coroutines writing with ``context.write``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.grpc.context import TraceContextInterceptor
from resonanz_sdk.grpc.errors import ErrorInterceptor
from resonanz_sdk.grpc.metrics import MetricsInterceptor

__all__ = ["HEALTH_SERVICE_NAME", "GrpcServer"]

logger = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class GrpcServer:
    """A grpc.aio server for ``services`` registered by ``register``; see the module docstring."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        services: Sequence[str],
        register: Callable[[grpc.aio.Server], None],
        name: str,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._services = tuple(services)
        self._register = register
        self.name = name
        self._server: grpc.aio.Server | None = None
        self._health: HealthServicer | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start`)."""
        return self._port

    @property
    def services(self) -> tuple[str, ...]:
        return self._services

    async def start(self) -> int:
        """Bind, start serving and mark every service SERVING; returns the bound port."""
        if self._server is not None:
            raise RuntimeError(f"gRPC server {self.name!r} already started")
        server = grpc.aio.server(
            interceptors=[TraceContextInterceptor(), MetricsInterceptor(), ErrorInterceptor()],
            options=[("grpc.so_reuseport", 0)],
        )
        self._register(server)
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            (*self._services, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = f"{self._host}:{self._requested_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigurationError(f"gRPC server {self.name!r} cannot bind {address}: {exc}") from exc
        if port == 0:
            raise ConfigurationError(f"gRPC server {self.name!r} cannot bind {address}")
        await server.start()
        for service in ("", *self._services):
            await health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server, self._health, self._port = server, health, port
        logger.info(
            "gRPC server %s serving %s on %s:%d", self.name, ", ".join(self._services), self._host, port
        )
        return port

    async def set_serving(self, serving: bool) -> None:
        """Report every service (and the server as a whole, "") SERVING or NOT_SERVING, e.g. NOT_SERVING
        when a background task the process exists for has died, so that a liveness probe restarts it."""
        if self._health is None:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", *self._services):
            await self._health.set(service, status)

    async def stop(self, grace: float = 5.0) -> None:
        """Say NOT_SERVING, refuse new calls and give in-flight ones ``grace`` seconds. Idempotent."""
        server, health = self._server, self._health
        if server is None or health is None:
            return
        self._server = self._health = None
        await health.enter_graceful_shutdown()
        await server.stop(grace)
        logger.info("gRPC server %s stopped", self.name)
