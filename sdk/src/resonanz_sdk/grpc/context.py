"""Who is calling, and in which trace: the tenant and ``traceparent`` gRPC metadata.

Every Resonanz RPC names its tenant in the ``x-resonanz-tenant`` metadata; handlers read it with
:func:`tenant_of` and clients send it with :func:`tenant_metadata`. The W3C ``traceparent`` metadata is
made current around each handler by :class:`TraceContextInterceptor` (a new trace when none came).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from resonanz_sdk.errors import UnauthenticatedError, ValidationError
from resonanz_sdk.grpc._wrap import ScopedInterceptor
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


@asynccontextmanager
async def _trace_scope(method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
    del method
    received = metadata_value(context, TRACEPARENT_METADATA_KEY)
    incoming = received[0] if received else None
    traceparent = (
        child_traceparent(incoming) if incoming and is_valid_traceparent(incoming) else new_traceparent()
    )
    with use_traceparent(traceparent):
        yield


class TraceContextInterceptor(ScopedInterceptor):
    """Runs each handler with a traceparent current: a child of the caller's, or a new trace."""

    def __init__(self) -> None:
        super().__init__(_trace_scope)
