"""gRPC helpers every Resonanz service uses: tenant and trace metadata, validation, error mapping,
metrics, page tokens and the server itself. Conventions: docs/grpc.md.
"""

from __future__ import annotations

from resonanz_sdk.grpc import page_token
from resonanz_sdk.grpc.context import (
    ACTOR_METADATA_KEY,
    TENANT_METADATA_KEY,
    TRACEPARENT_METADATA_KEY,
    TraceContextInterceptor,
    actor_of,
    call_metadata,
    tenant_metadata,
    tenant_of,
    validate_actor,
    validate_tenant,
)
from resonanz_sdk.grpc.errors import (
    INTERNAL_MESSAGE,
    ErrorInterceptor,
    field_violations,
    rich_status,
    status_for,
)
from resonanz_sdk.grpc.metrics import MetricsInterceptor
from resonanz_sdk.grpc.server import GrpcServer
from resonanz_sdk.grpc.validation import DEFAULT_PAGE_SIZE, Validator

__all__ = [
    "ACTOR_METADATA_KEY",
    "DEFAULT_PAGE_SIZE",
    "INTERNAL_MESSAGE",
    "TENANT_METADATA_KEY",
    "TRACEPARENT_METADATA_KEY",
    "ErrorInterceptor",
    "GrpcServer",
    "MetricsInterceptor",
    "TraceContextInterceptor",
    "Validator",
    "actor_of",
    "call_metadata",
    "field_violations",
    "page_token",
    "rich_status",
    "status_for",
    "tenant_metadata",
    "tenant_of",
    "validate_actor",
    "validate_tenant",
]
