"""Map Resonanz errors to gRPC status codes with rich details, and read the details back on the client.

Server side, :class:`ErrorInterceptor` answers every exception a handler raises:

=====================================================  ===================  ===============================
exception                                              status code          details (google.rpc.*)
=====================================================  ===================  ===============================
ValidationError                                        INVALID_ARGUMENT     BadRequest (field violations)
NotFoundError                                          NOT_FOUND            ErrorInfo
AlreadyExistsError                                     ALREADY_EXISTS       ErrorInfo
FailedPreconditionError                                FAILED_PRECONDITION  ErrorInfo
PermissionDeniedError                                  PERMISSION_DENIED    ErrorInfo
UnauthenticatedError                                   UNAUTHENTICATED      ErrorInfo
TransientNetworkError, RateLimitedError, BrokerError   UNAVAILABLE          ErrorInfo, RetryInfo if known
PermanentNetworkError, AuthenticationFailedError,      FAILED_PRECONDITION  ErrorInfo (network / plugin)
other NetworkError, PluginError
NotImplementedError (unimplemented generated method)   UNIMPLEMENTED        none
anything else (ConfigurationError and bugs included)   INTERNAL             none; message "internal error"
=====================================================  ===================  ===============================

UNAVAILABLE means "retrying later may work" (a network's outage or rate limit, the broker away);
FAILED_PRECONDITION means "retrying will not help until something changes" (content refused, credentials
refused, a plugin broken or not installed). The message of an INTERNAL error is fixed: the exception is
logged with its traceback and never sent.

Client side, :func:`field_violations` reads the BadRequest field violations of an ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
from google.protobuf import duration_pb2
from google.rpc import (  # type: ignore[import-untyped,unused-ignore]  # no stubs shipped
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status

from resonanz_sdk import errors
from resonanz_sdk.grpc._wrap import ScopedInterceptor

__all__ = [
    "ERROR_DOMAIN",
    "INTERNAL_MESSAGE",
    "ErrorInterceptor",
    "error_reason",
    "field_violations",
    "rich_status",
    "status_for",
]

logger = logging.getLogger(__name__)

#: ``google.rpc.ErrorInfo.domain`` of every Resonanz error.
ERROR_DOMAIN = "resonanz"
#: The only message an INTERNAL error ever carries.
INTERNAL_MESSAGE = "internal error"
_DETAILS_KEY = "grpc-status-details-bin"

# Most specific first: the first matching class decides.
_CODES: tuple[tuple[type[errors.ResonanzError], int], ...] = (
    (errors.ValidationError, code_pb2.INVALID_ARGUMENT),
    (errors.NotFoundError, code_pb2.NOT_FOUND),
    (errors.AlreadyExistsError, code_pb2.ALREADY_EXISTS),
    (errors.FailedPreconditionError, code_pb2.FAILED_PRECONDITION),
    (errors.PermissionDeniedError, code_pb2.PERMISSION_DENIED),
    (errors.UnauthenticatedError, code_pb2.UNAUTHENTICATED),
    (errors.TransientNetworkError, code_pb2.UNAVAILABLE),
    (errors.BrokerError, code_pb2.UNAVAILABLE),
    (errors.NetworkError, code_pb2.FAILED_PRECONDITION),
    (errors.PluginError, code_pb2.FAILED_PRECONDITION),
)


def error_reason(exc: errors.ResonanzError) -> str:
    """``ErrorInfo.reason`` of an error: its class name in UPPER_SNAKE_CASE without ``Error``."""
    name = type(exc).__name__.removesuffix("Error") or "RESONANZ"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def status_for(exc: BaseException) -> status_pb2.Status:
    """The ``google.rpc.Status`` a handler's exception is answered with."""
    code = next(
        (code for cls, code in _CODES if isinstance(exc, errors.ResonanzError) and isinstance(exc, cls)), None
    )
    if code is None or not isinstance(exc, errors.ResonanzError):
        return status_pb2.Status(code=code_pb2.INTERNAL, message=INTERNAL_MESSAGE)
    status = status_pb2.Status(code=code, message=str(exc))
    if isinstance(exc, errors.ValidationError):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in exc.violations
            ]
        )
        status.details.add().Pack(bad_request)
        return status
    info = error_details_pb2.ErrorInfo(reason=error_reason(exc), domain=ERROR_DOMAIN)
    if isinstance(exc, errors.NetworkError):
        info.metadata["network"] = exc.network
    if isinstance(exc, errors.PluginError):
        info.metadata["plugin"] = exc.plugin
    status.details.add().Pack(info)
    if isinstance(exc, errors.TransientNetworkError) and exc.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(exc.retry_after * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


@asynccontextmanager
async def _error_scope(method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
    try:
        yield
    except grpc.aio.AbortError:
        raise  # the handler aborted on purpose
    except NotImplementedError:
        # What generated base servicers raise for methods a service does not implement.
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
    except Exception as exc:
        status = status_for(exc)
        if status.code == code_pb2.INTERNAL:
            logger.exception("unexpected error in %s", method)
        elif status.code in (code_pb2.UNAVAILABLE, code_pb2.FAILED_PRECONDITION):
            logger.warning("%s failed: %s", method, exc)
        else:
            logger.debug("%s refused: %s", method, exc)
        await context.abort_with_status(rpc_status.to_status(status))


class ErrorInterceptor(ScopedInterceptor):
    """Answers handler exceptions with the mapped status (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(_error_scope)


def rich_status(rpc_error: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` of a failed call (sync or aio), or None when it carried none."""
    trailing = getattr(rpc_error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for key, value in metadata or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def field_violations(rpc_error: grpc.RpcError) -> list[errors.FieldViolation]:
    """The field violations of an INVALID_ARGUMENT error (empty for other errors)."""
    status = rich_status(rpc_error)
    if status is None:
        return []
    violations: list[errors.FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(
                errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return violations
