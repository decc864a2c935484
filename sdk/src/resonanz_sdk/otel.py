"""OpenTelemetry spans around gRPC calls and Kafka events, exported over OTLP/gRPC when configured.

Trace context always travels as a W3C ``traceparent`` (gRPC metadata, Kafka headers; see
:mod:`resonanz_sdk.tracing`). This module turns those hops into real spans:

* a ``SERVER`` span per gRPC call (:class:`resonanz_sdk.grpc.context.TraceContextInterceptor`),
* a ``PRODUCER`` span per produced event (:class:`resonanz_sdk.eventbus.EventProducer`),
* a ``CONSUMER`` span per handled event (:class:`resonanz_sdk.eventbus.EventConsumer`),

each parented by the incoming traceparent, and the traceparent sent onwards is the new span's.

``configure_tracing(settings, "resonanz-scoring")`` installs an SDK ``TracerProvider`` with a
``BatchSpanProcessor`` and the OTLP/gRPC exporter when ``RESONANZ_OTEL_EXPORTER_OTLP_ENDPOINT`` is set
(``service.name``: ``RESONANZ_OTEL_SERVICE_NAME`` or the given name). Without an endpoint nothing is
installed: no spans are made and the traceparent is propagated as before (a child span id per gRPC
call, the same traceparent on every event produced in it). A provider installed globally by someone
else (``opentelemetry-instrument``) is used as well. Tests install their own with
:func:`install_tracer_provider`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from resonanz_sdk.settings import Settings
from resonanz_sdk.tracing import is_valid_traceparent, use_traceparent

__all__ = [
    "Span",
    "SpanKind",
    "SpanStart",
    "Status",
    "StatusCode",
    "configure_tracing",
    "fail",
    "install_tracer_provider",
    "spans",
    "start_span",
    "traceparent_of",
    "tracer",
    "use_span",
]

log = logging.getLogger(__name__)

#: What :func:`spans` starts: (name, kind, parent traceparent or None, attributes).
SpanStart = tuple[str, SpanKind, str | None, Mapping[str, AttributeValue]]

_INSTRUMENTATION = "resonanz_sdk"
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_configured: TracerProvider | None = None
_installed: trace.TracerProvider | None = None
#: One tracer per provider, keyed by the provider object itself (weakly): an ``id()`` key could be
#: reused by a new provider once an old one is garbage-collected, handing out a dead provider's tracer.
_tracers: weakref.WeakKeyDictionary[trace.TracerProvider, trace.Tracer] = weakref.WeakKeyDictionary()


def configure_tracing(settings: Settings, service_name: str) -> TracerProvider | None:
    """Export spans to ``settings.otel_exporter_otlp_endpoint``; returns the provider (None: no export).

    Idempotent: every role of one process (the embedded platform) may call it; the first call that
    finds an endpoint installs the provider and later calls return it. The provider flushes at exit.
    """
    global _configured  # noqa: PLW0603
    endpoint = settings.otel_exporter_otlp_endpoint.strip()
    with _lock:
        if _configured is not None or not endpoint:
            return _configured
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        name = settings.otel_service_name.strip() or service_name
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _configured = provider
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(provider)
        log.info("exporting traces of %s to %s (OTLP/gRPC)", name, endpoint)
        return provider


def install_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Make Resonanz's spans go to ``provider`` (tests: an in-memory exporter); None undoes it.

    Unlike :func:`configure_tracing` this leaves OpenTelemetry's global provider alone.
    """
    global _installed  # noqa: PLW0603
    with _lock:
        _installed = provider


def tracer() -> trace.Tracer | None:
    """The tracer spans are made with, or None when no provider records them (the default)."""
    provider = _installed or _configured
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None
    found = _tracers.get(provider)
    if found is None:
        found = provider.get_tracer(_INSTRUMENTATION)
        _tracers[provider] = found
    return found


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent naming ``span`` (None for an invalid span context)."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _parent_context(parent: str | None) -> Context:
    if not parent or not is_valid_traceparent(parent):
        return Context()  # a new trace
    current = trace.get_current_span()
    if traceparent_of(current) == parent:
        return otel_context.get_current()  # a local parent: keep it (and is_remote=False)
    return _PROPAGATOR.extract({"traceparent": parent}, context=Context())


def start_span(
    name: str,
    kind: SpanKind,
    *,
    parent: str | None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> tuple[Span, str] | None:
    """Start (not enter) a span parented by the traceparent ``parent`` (a new trace when None).

    Returns the span and the traceparent to send onwards, or None when tracing is off. End the span
    yourself (``span.end()``) or enter it with :func:`use_span`.
    """
    active = tracer()
    if active is None:
        return None
    span = active.start_span(name, context=_parent_context(parent), kind=kind, attributes=attributes)
    onward = traceparent_of(span) or parent
    if onward is None:
        span.end()
        return None
    return span, onward


@contextmanager
def use_span(span: Span, traceparent: str, *, end: bool = True, record: bool = True) -> Iterator[Span]:
    """Make ``span`` current (OpenTelemetry's context and :mod:`resonanz_sdk.tracing`'s traceparent).

    An exception leaving the block is recorded on the span and sets its status to ERROR (unless
    ``record`` is False); the span is ended on exit unless ``end`` is False.
    """
    try:
        with (
            trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False),
            use_traceparent(traceparent),
        ):
            yield span
    except BaseException as exc:
        if record:
            fail(span, exc)
        raise
    finally:
        if end:
            span.end()


def fail(span: Span, error: BaseException) -> None:
    """Record ``error`` on ``span`` and mark it ERROR."""
    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500]))


@contextmanager
def spans(
    starts: Sequence[SpanStart],
) -> Iterator[list[str] | None]:
    """Start one span per ``(name, kind, parent, attributes)``; yield their traceparents (None: off).

    The first span is made current inside the block; every span ends on exit, with ERROR status
    when an exception leaves the block.
    """
    if not starts or tracer() is None:
        yield None
        return
    started = [
        start_span(name, kind, parent=parent, attributes=attrs) for name, kind, parent, attrs in starts
    ]
    made = [item for item in started if item is not None]
    if len(made) != len(started):
        for span, _ in made:
            span.end()
        yield None
        return
    try:
        first_span, first_traceparent = made[0]
        with use_span(first_span, first_traceparent, end=False):
            yield [onward for _, onward in made]
    except BaseException as exc:
        for span, _ in made[1:]:
            fail(span, exc)
        raise
    finally:
        for span, _ in made:
            span.end()
