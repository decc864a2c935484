"""Error mapping over a real server and channel: codes, field violations, no leaked internals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2  # type: ignore[import-untyped,unused-ignore]
from resonanz.listening.v1 import listening_service_pb2, listening_service_pb2_grpc
from resonanz.publishing.v1 import publishing_service_pb2, publishing_service_pb2_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk import errors
from resonanz_sdk.grpc import INTERNAL_MESSAGE, field_violations, rich_status, status_for, tenant_metadata

TENANT = tenant_metadata("acme")


async def _brand_scores_error(channel: grpc.aio.Channel, **request: object) -> grpc.aio.AioRpcError:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(**request), metadata=TENANT)  # type: ignore[arg-type]
    return info.value


async def test_valid_request_is_answered(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    response = await stub.GetBrandScores(
        scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=TENANT
    )
    assert response.scores.tenant == "acme"
    assert response.scores.label == "acme"


async def test_invalid_argument_carries_every_field_violation(channel: grpc.aio.Channel) -> None:
    error = await _brand_scores_error(channel, label="", window=duration_pb2.Duration(seconds=-5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [
        errors.FieldViolation("label", "must not be empty"),
        errors.FieldViolation("window", "must not be negative"),
    ]
    assert "label: must not be empty" in (error.details() or "")


async def test_too_long_field_is_named(channel: grpc.aio.Channel) -> None:
    error = await _brand_scores_error(channel, label="x" * 11)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [
        errors.FieldViolation("label", "must be at most 10 characters (is 11)")
    ]


async def test_not_found(channel: grpc.aio.Channel) -> None:
    error = await _brand_scores_error(channel, label="missing")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "no scores for label 'missing'"
    assert field_violations(error) == []
    status = rich_status(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("NOT_FOUND", "resonanz")


async def test_unexpected_exception_is_internal_without_its_text(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="resonanz_sdk.grpc.errors"):
        error = await _brand_scores_error(channel, label="boom")
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == INTERNAL_MESSAGE
    assert secret not in str(error)
    assert secret not in repr(error.trailing_metadata())
    status = rich_status(error)
    assert status is not None
    assert list(status.details) == []
    # ... but the operator sees it, with the traceback.
    logged = [r for r in caplog.records if r.name == "resonanz_sdk.grpc.errors"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert secret in str(logged[0].exc_info[1])
    assert "GetBrandScores" in logged[0].getMessage()


async def test_rate_limited_network_is_unavailable_with_retry_info(channel: grpc.aio.Channel) -> None:
    error = await _brand_scores_error(channel, label="limited")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    status = rich_status(error)
    assert status is not None
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert info.reason == "RATE_LIMITED"
    assert dict(info.metadata) == {"network": "simulated"}
    assert retry.retry_delay.ToNanoseconds() == 2_500_000_000


async def test_missing_tenant_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-resonanz-tenant" in (info.value.details() or "")


@pytest.mark.parametrize("tenant", ["", "Acme", "-acme", "a" * 64, "acme corp", "ac/me"])
async def test_invalid_tenant_is_invalid_argument(channel: grpc.aio.Channel, tenant: str) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(
            scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=(("x-resonanz-tenant", tenant),)
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(info.value)] == ["x-resonanz-tenant"]


async def test_conflicting_tenants_are_refused(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(
            scoring_service_pb2.GetBrandScoresRequest(label="acme"),
            metadata=(("x-resonanz-tenant", "acme"), ("x-resonanz-tenant", "evil")),
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_tenant_metadata_refuses_invalid_tenants() -> None:
    assert tenant_metadata("acme_de-1") == (("x-resonanz-tenant", "acme_de-1"),)
    with pytest.raises(errors.ValidationError):
        tenant_metadata("ACME")


async def _drain(call: AsyncIterable[Any], into: list[Any]) -> None:
    """Read a response stream to its end (or its error), keeping every message."""
    async for response in call:
        into.append(response)


async def _stream(channel: grpc.aio.Channel, label: str) -> tuple[list[str], grpc.aio.AioRpcError]:
    stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
    call = stub.StreamMentions(listening_service_pb2.StreamMentionsRequest(labels=[label]), metadata=TENANT)
    received: list[listening_service_pb2.StreamMentionsResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _drain(call, received)
    return [r.mention.id for r in received], info.value


async def test_stream_validation_error_before_first_message(channel: grpc.aio.Channel) -> None:
    received, error = await _stream(channel, "invalid")
    assert received == []
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [errors.FieldViolation("labels[0]", "unknown label")]


async def test_stream_error_after_messages_is_mapped(channel: grpc.aio.Channel) -> None:
    received, error = await _stream(channel, "missing")
    assert received == ["m0", "m1"]
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "the query was deleted"


async def test_stream_bug_is_internal_without_its_text(channel: grpc.aio.Channel, secret: str) -> None:
    received, error = await _stream(channel, "boom")
    assert received == ["m0", "m1"]
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == INTERNAL_MESSAGE
    assert secret not in str(error)


async def test_stream_that_ends_normally(channel: grpc.aio.Channel) -> None:
    stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
    call = stub.StreamMentions(listening_service_pb2.StreamMentionsRequest(labels=["fine"]), metadata=TENANT)
    assert [r.cursor async for r in call] == ["0", "1"]
    assert await call.code() == grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("post_id", "code", "details"),
    [
        ("boom", grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE),
        ("missing", grpc.StatusCode.NOT_FOUND, "no such post"),
    ],
)
async def test_stream_written_with_context_write_is_mapped(
    channel: grpc.aio.Channel, post_id: str, code: grpc.StatusCode, details: str
) -> None:
    stub = publishing_service_pb2_grpc.PublishingServiceStub(channel)
    call = stub.WatchPost(publishing_service_pb2.WatchPostRequest(post_id=post_id), metadata=TENANT)
    received: list[object] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _drain(call, received)
    assert len(received) == 1
    assert info.value.code() == code
    assert info.value.details() == details


async def test_unimplemented_methods_stay_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetQuery(listening_service_pb2.GetQueryRequest(), metadata=TENANT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ValidationError.single("f", "bad"), code_pb2.INVALID_ARGUMENT),
        (errors.NotFoundError("x"), code_pb2.NOT_FOUND),
        (errors.AlreadyExistsError("x"), code_pb2.ALREADY_EXISTS),
        (errors.FailedPreconditionError("x"), code_pb2.FAILED_PRECONDITION),
        (errors.PermissionDeniedError("x"), code_pb2.PERMISSION_DENIED),
        (errors.UnauthenticatedError("x"), code_pb2.UNAUTHENTICATED),
        (errors.TransientNetworkError("n", "x"), code_pb2.UNAVAILABLE),
        (errors.RateLimitedError("n", "x"), code_pb2.UNAVAILABLE),
        (errors.BrokerError("x"), code_pb2.UNAVAILABLE),
        (errors.PermanentNetworkError("n", "x"), code_pb2.FAILED_PRECONDITION),
        (errors.AuthenticationFailedError("n", "x"), code_pb2.FAILED_PRECONDITION),
        (errors.NetworkError("n", "x"), code_pb2.FAILED_PRECONDITION),
        (errors.PluginError("p", "x"), code_pb2.FAILED_PRECONDITION),
        (errors.ConfigurationError("postgres://user:pw@db"), code_pb2.INTERNAL),
        (errors.ResonanzError("x"), code_pb2.INTERNAL),
        (KeyError("x"), code_pb2.INTERNAL),
    ],
)
def test_status_for_maps_every_error(exc: BaseException, code: int) -> None:
    status = status_for(exc)
    assert status.code == code
    if code == code_pb2.INTERNAL:
        assert status.message == INTERNAL_MESSAGE
        assert list(status.details) == []
    else:
        assert status.message == str(exc)


def test_plugin_error_names_the_plugin() -> None:
    status = status_for(errors.PluginError("simulated", "hook raised"))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "PLUGIN"
    assert dict(info.metadata) == {"plugin": "simulated"}
