"""The metrics interceptor counts real calls by service, method and final status code."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from prometheus_client import REGISTRY
from resonanz.listening.v1 import listening_service_pb2, listening_service_pb2_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.grpc import tenant_metadata

SCORING = "resonanz.scoring.v1.ScoringService"
LISTENING = "resonanz.listening.v1.ListeningService"


def _requests(service: str, method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "resonanz_rpc_requests_total", {"service": service, "method": method, "code": code}
    )
    return value or 0.0


def _latency_count(service: str, method: str) -> float:
    value = REGISTRY.get_sample_value(
        "resonanz_rpc_latency_seconds_count", {"service": service, "method": method}
    )
    return value or 0.0


async def test_unary_calls_are_counted_by_code(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    codes = ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL", "UNAUTHENTICATED")
    before = {code: _requests(SCORING, "GetBrandScores", code) for code in codes}
    latency_before = _latency_count(SCORING, "GetBrandScores")

    meta = tenant_metadata("acme")
    await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=meta)
    await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=meta)
    for label, metadata in (("", meta), ("missing", meta), ("boom", meta), ("acme", ())):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetBrandScores(
                scoring_service_pb2.GetBrandScoresRequest(label=label), metadata=metadata
            )

    after = {code: _requests(SCORING, "GetBrandScores", code) for code in codes}
    assert {code: after[code] - before[code] for code in codes} == {
        "OK": 2,
        "INVALID_ARGUMENT": 1,
        "NOT_FOUND": 1,
        "INTERNAL": 1,
        "UNAUTHENTICATED": 1,
    }
    assert _latency_count(SCORING, "GetBrandScores") - latency_before == 6


async def test_streams_are_counted_when_they_end(channel: grpc.aio.Channel) -> None:
    stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
    ok, not_found = (
        _requests(LISTENING, "StreamMentions", "OK"),
        _requests(LISTENING, "StreamMentions", "NOT_FOUND"),
    )
    meta = tenant_metadata("acme")
    call = stub.StreamMentions(listening_service_pb2.StreamMentionsRequest(labels=["fine"]), metadata=meta)
    assert len([r async for r in call]) == 2
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in stub.StreamMentions(
            listening_service_pb2.StreamMentionsRequest(labels=["missing"]), metadata=meta
        ):
            pass
    assert _requests(LISTENING, "StreamMentions", "OK") - ok == 1
    assert _requests(LISTENING, "StreamMentions", "NOT_FOUND") - not_found == 1
