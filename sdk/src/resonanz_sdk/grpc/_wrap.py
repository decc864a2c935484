"""Wrap the behaviour of a grpc.aio method handler in an async context manager.

A ``grpc.aio.ServerInterceptor`` only sees the :class:`grpc.RpcMethodHandler`, not the call; to act around
the call it replaces the handler's behaviour (``unary_unary``, ``unary_stream``, ...) by one that runs the
original inside a *scope*: an async context manager built per call from the full method name and the
servicer context. The scope sees every exception the behaviour raises, for unary and streaming responses
alike (a streaming behaviour may be an async generator or a coroutine writing with ``context.write``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
import grpc.aio

__all__ = ["Scope", "ScopedInterceptor", "split_method", "wrap_handler"]

#: Builds the scope of one call from the full method name ("/pkg.Service/Method") and its context.
Scope = Callable[[str, grpc.aio.ServicerContext[Any, Any]], AbstractAsyncContextManager[None]]


def split_method(full_method: str) -> tuple[str, str]:
    """``"/resonanz.scoring.v1.ScoringService/GetBrandScores"`` -> (service, method)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


def _wrap_behaviour(behaviour: Callable[..., Any], method: str, scope: Scope) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            async with scope(method, context):
                async for response in behaviour(request, context):
                    yield response

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with scope(method, context):
            result = behaviour(request, context)
            if inspect.isawaitable(result):
                result = await result
            return result

    return call


def wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, scope: Scope
) -> grpc.RpcMethodHandler[Any, Any]:
    """A new handler with the same (de)serialisers whose behaviour runs inside ``scope``."""
    deserializer = handler.request_deserializer
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_behaviour(handler.unary_unary, method, scope), deserializer, serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_behaviour(handler.unary_stream, method, scope), deserializer, serializer
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _wrap_behaviour(handler.stream_unary, method, scope), deserializer, serializer
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_behaviour(handler.stream_stream, method, scope), deserializer, serializer
        )
    return handler


class ScopedInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that runs every call of every method inside ``scope``."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return wrap_handler(handler, handler_call_details.method, self._scope)
