"""GrpcServer over real sockets: health, reflection, trace context, binding and graceful stop."""

from __future__ import annotations

import socket

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.grpc import GrpcServer, call_metadata, tenant_metadata
from resonanz_sdk.tracing import is_valid_traceparent, new_traceparent, trace_id_of, use_traceparent

SERVICES = [
    "resonanz.scoring.v1.ScoringService",
    "resonanz.listening.v1.ListeningService",
    "resonanz.publishing.v1.PublishingService",
]


async def _health(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


async def test_binds_a_free_port(grpc_server: GrpcServer) -> None:
    assert grpc_server.port > 0
    with socket.create_connection(("127.0.0.1", grpc_server.port), timeout=2):
        pass


@pytest.mark.parametrize("service", ["", *SERVICES])
async def test_health_says_serving(channel: grpc.aio.Channel, service: str) -> None:
    assert await _health(channel, service) == health_pb2.HealthCheckResponse.SERVING


async def test_health_of_an_unknown_service_is_not_found(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _health(channel, "resonanz.nope.v1.NopeService")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    responses = [r async for r in call]
    names = {s.name for s in responses[0].list_services_response.service}
    assert names == {*SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


async def test_reflection_describes_a_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="resonanz.scoring.v1.ScoringService"
    )
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    files = responses[0].file_descriptor_response.file_descriptor_proto
    assert files, responses[0]


async def test_handler_runs_in_the_callers_trace(channel: grpc.aio.Channel, scoring_double: object) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    caller = new_traceparent()
    request = scoring_service_pb2.GetBrandScoresRequest(label="acme")
    await stub.GetBrandScores(request, metadata=(*tenant_metadata("acme"), ("traceparent", caller)))
    await stub.GetBrandScores(request, metadata=tenant_metadata("acme"))
    await stub.GetBrandScores(request, metadata=(*tenant_metadata("acme"), ("traceparent", "garbage")))
    seen = scoring_double.traceparents  # type: ignore[attr-defined]
    assert len(seen) == 3
    child, fresh, after_garbage = seen
    assert is_valid_traceparent(child)
    assert trace_id_of(child) == trace_id_of(caller)
    assert child != caller  # the server's own span
    assert is_valid_traceparent(fresh)
    assert trace_id_of(fresh) != trace_id_of(caller)
    assert is_valid_traceparent(after_garbage)


async def test_port_in_use_is_a_configuration_error(grpc_server: GrpcServer) -> None:
    second = GrpcServer(
        host="127.0.0.1", port=grpc_server.port, services=[], register=lambda _server: None, name="second"
    )
    with pytest.raises(ConfigurationError, match="cannot bind"):
        await second.start()


async def test_stop_refuses_new_calls_and_is_idempotent() -> None:
    server = GrpcServer(host="127.0.0.1", port=0, services=[], register=lambda _server: None, name="stopper")
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert await _health(channel, "") == health_pb2.HealthCheckResponse.SERVING
        await server.stop(grace=0.5)
        await server.stop()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _health(channel, "")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_health_turns_not_serving_during_graceful_stop() -> None:
    server = GrpcServer(host="127.0.0.1", port=0, services=[], register=lambda _server: None, name="watcher")
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        await server.stop(grace=0.5)
        statuses = [first.status]
        try:
            while (response := await watch.read()) is not grpc.aio.EOF:
                statuses.append(response.status)
        except grpc.aio.AioRpcError:
            pass  # the stream ends when the grace period is over
    assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses


async def test_call_metadata_carries_the_current_trace(
    channel: grpc.aio.Channel, scoring_double: object
) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    caller = new_traceparent()
    assert call_metadata("acme") == tenant_metadata("acme")
    with use_traceparent(caller):
        metadata = call_metadata("acme")
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=metadata)
    assert metadata == (("x-resonanz-tenant", "acme"), ("traceparent", caller))
    (seen,) = scoring_double.traceparents  # type: ignore[attr-defined]
    assert trace_id_of(seen) == trace_id_of(caller)


async def test_set_serving_reports_not_serving_and_back(
    grpc_server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    await grpc_server.set_serving(False)
    for service in ("", *SERVICES):
        assert await _health(channel, service) == health_pb2.HealthCheckResponse.NOT_SERVING
    await grpc_server.set_serving(True)
    for service in ("", *SERVICES):
        assert await _health(channel, service) == health_pb2.HealthCheckResponse.SERVING
