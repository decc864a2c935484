"""Server interceptor counting every call and timing it (``resonanz_rpc_*`` in :mod:`resonanz_sdk.metrics`).

It must run outside the error interceptor so that it sees the final status code: the code a handler
aborted with or set, ``CANCELLED`` when the client went away, ``OK`` otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from resonanz_sdk.grpc._wrap import ScopedInterceptor, split_method
from resonanz_sdk.metrics import RPC_LATENCY, RPC_REQUESTS

__all__ = ["MetricsInterceptor"]


def _code_name(code: object) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status.name
    return "UNKNOWN"


@asynccontextmanager
async def _metrics_scope(
    full_method: str, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[None]:
    service, method = split_method(full_method)
    started = time.perf_counter()
    code = "UNKNOWN"
    try:
        yield
    except (asyncio.CancelledError, GeneratorExit):
        code = "CANCELLED"
        raise
    except grpc.aio.AbortError:
        code = _code_name(context.code())
        raise
    except Exception:
        code = "UNKNOWN"
        raise
    else:
        set_code = context.code()
        code = "OK" if set_code is None else _code_name(set_code)
    finally:
        RPC_REQUESTS.labels(service, method, code).inc()
        RPC_LATENCY.labels(service, method).observe(time.perf_counter() - started)


class MetricsInterceptor(ScopedInterceptor):
    """Counts calls by service, method and status code and observes their latency."""

    def __init__(self) -> None:
        super().__init__(_metrics_scope)
