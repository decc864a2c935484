"""Who is calling, and in which trace: the tenant and ``traceparent`` gRPC metadata.

Every Resonanz RPC names its tenant in the ``x-resonanz-tenant`` metadata; handlers read it with
:func:`tenant_of` and clients send it with :func:`tenant_metadata`. The W3C ``traceparent`` metadata is
made current around each handler by :class:`TraceContextInterceptor` (a new trace when none came), in an
OpenTelemetry SERVER span when tracing is on (:mod:`resonanz_sdk.otel`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from resonanz_sdk import otel
from resonanz_sdk.errors import UnauthenticatedError, ValidationError
from resonanz_sdk.grpc._wrap import ScopedInterceptor, split_method
from resonanz_sdk.tracing import (
    child_traceparent,
    current_traceparent,
    is_valid_traceparent,
    new_traceparent,
    use_traceparent,
)

__all__ = [
    "ACTOR_METADATA_KEY",
    "TENANT_METADATA_KEY",
    "TRACEPARENT_METADATA_KEY",
    "TraceContextInterceptor",
    "actor_of",
    "call_metadata",
    "metadata_value",
    "tenant_metadata",
    "tenant_of",
    "validate_actor",
    "validate_tenant",
]

TENANT_METADATA_KEY = "x-resonanz-tenant"
TRACEPARENT_METADATA_KEY = "traceparent"
#: The acting user (for roles and the audit log). Until authentication exists (issue 8) it is asserted
#: by the caller, like the tenant.
ACTOR_METADATA_KEY = "x-resonanz-actor"
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ACTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}")


def validate_tenant(tenant: str) -> str:
    """Return ``tenant`` when it is a valid tenant id, else raise ValidationError on the metadata key."""
    if not _TENANT.fullmatch(tenant):
        raise ValidationError.single(
            TENANT_METADATA_KEY,
            "must be 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        )
    return tenant


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> list[str]:
    """Every value of one (ASCII) metadata key sent by the client, in order."""
    values: list[str] = []
    for item_key, item_value in context.invocation_metadata() or ():
        if item_key.lower() == key:
            values.append(item_value.decode() if isinstance(item_value, bytes) else item_value)
    return values


def tenant_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The caller's tenant.

    Raises UnauthenticatedError when the metadata is missing, ValidationError when it is not a valid
    tenant id or is sent more than once with different values.
    """
    values = metadata_value(context, TENANT_METADATA_KEY)
    if not values:
        raise UnauthenticatedError(f"missing {TENANT_METADATA_KEY} metadata: say which tenant you act for")
    if len(set(values)) > 1:
        raise ValidationError.single(TENANT_METADATA_KEY, "sent more than once with different values")
    return validate_tenant(values[0])


def validate_actor(actor: str) -> str:
    """Return ``actor`` when it is a valid user id, else raise ValidationError on the metadata key."""
    if not _ACTOR.fullmatch(actor):
        raise ValidationError.single(
            ACTOR_METADATA_KEY,
            "must be 1-200 characters of letters, digits and '_.@+-', starting with a letter or digit",
        )
    return actor


def actor_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The acting user named by the ``x-resonanz-actor`` metadata; ``""`` when the caller sent none."""
    values = metadata_value(context, ACTOR_METADATA_KEY)
    if not values:
        return ""
    if len(set(values)) > 1:
        raise ValidationError.single(ACTOR_METADATA_KEY, "sent more than once with different values")
    return validate_actor(values[0])


def tenant_metadata(tenant: str) -> tuple[tuple[str, str], ...]:
    """Client side: the metadata naming ``tenant`` (validated), to pass as ``metadata=`` of a call."""
    return ((TENANT_METADATA_KEY, validate_tenant(tenant)),)


def call_metadata(tenant: str, actor: str = "") -> tuple[tuple[str, str], ...]:
    """Client side: the tenant metadata, the actor when given, and the current ``traceparent``."""
    metadata = tenant_metadata(tenant)
    if actor:
        metadata = (*metadata, (ACTOR_METADATA_KEY, validate_actor(actor)))
    traceparent = current_traceparent()
    if traceparent is None:
        return metadata
    return (*metadata, (TRACEPARENT_METADATA_KEY, traceparent))


#: Status codes that mark a SERVER span as failed (OpenTelemetry's gRPC conventions); the others are
#: the caller's mistakes and leave the status unset.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def _status_code(code: object) -> grpc.StatusCode:
    if isinstance(code, grpc.StatusCode):
        return code
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status
    return grpc.StatusCode.UNKNOWN


def _end_server_span(span: otel.Span, code: grpc.StatusCode, error: BaseException | None = None) -> None:
    span.set_attribute("rpc.grpc.status_code", int(code.value[0]))
    if code in _SERVER_ERRORS:
        if error is not None:
            span.record_exception(error)
        span.set_status(otel.Status(otel.StatusCode.ERROR, code.name))
    span.end()


@asynccontextmanager
async def _trace_scope(method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
    received = metadata_value(context, TRACEPARENT_METADATA_KEY)
    incoming = received[0] if received and is_valid_traceparent(received[0]) else None
    service, name = split_method(method)
    started = otel.start_span(
        f"{service}/{name}",
        otel.SpanKind.SERVER,
        parent=incoming,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )
    if started is None:  # no spans: propagate a child of the caller's traceparent, or a new trace
        with use_traceparent(child_traceparent(incoming) if incoming else new_traceparent()):
            yield
        return
    span, traceparent = started
    with otel.use_span(span, traceparent, end=False, record=False):
        try:
            yield
        except grpc.aio.AbortError as exc:
            _end_server_span(span, _status_code(context.code()), exc)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            _end_server_span(span, grpc.StatusCode.CANCELLED)
            raise
        except Exception as exc:
            _end_server_span(span, grpc.StatusCode.UNKNOWN, exc)
            raise
        else:
            code = context.code()
            _end_server_span(span, grpc.StatusCode.OK if code is None else _status_code(code))


class TraceContextInterceptor(ScopedInterceptor):
    """Runs each handler in a SERVER span (when tracing is on) with its traceparent current.

    The span is a child of the caller's ``traceparent`` (or starts a trace); without tracing the
    handler gets a child traceparent of the caller's, or a new trace.
    """

    def __init__(self) -> None:
        super().__init__(_trace_scope)
