"""OpenTelemetry spans across a real gRPC call and the real broker, recorded in memory (no export).

A SERVER span per gRPC call parented by the caller's ``traceparent``, a PRODUCER span per event
produced inside it and a CONSUMER span per event handled, all in the caller's trace; and the
traceparent sent onwards is always the current span's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence

import grpc
import grpc.aio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from resonanz.common.v1 import score_pb2
from resonanz.common.v1.mention_pb2 import Mention
from resonanz.events.v1.events_pb2 import MentionCollected
from resonanz.listening.v1 import listening_service_pb2, listening_service_pb2_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk import otel
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.eventbus import (
    EventConsumer,
    EventProducer,
    ReceivedEvent,
    ensure_topics,
    new_envelope,
)
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.settings import Settings
from resonanz_sdk.tracing import current_traceparent, new_traceparent, use_traceparent

TOPIC = "mentions.raw"
SCORING = scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.install_tracer_provider(provider)
    try:
        yield exporter
    finally:
        otel.install_tracer_provider(None)
        provider.shutdown()


class Scoring(scoring_service_pb2_grpc.ScoringServiceServicer):
    """GetBrandScores publishes one event (when a producer is given) and remembers its traceparent."""

    def __init__(self, producer: EventProducer | None = None) -> None:
        self.producer = producer
        self.seen: list[str | None] = []

    async def GetBrandScores(  # noqa: N802
        self,
        request: scoring_service_pb2.GetBrandScoresRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> scoring_service_pb2.GetBrandScoresResponse:
        self.seen.append(current_traceparent())
        if request.label == "missing":
            raise NotFoundError("no such label")
        if self.producer is not None:
            envelope = new_envelope("acme", MentionCollected(mention=Mention(id="simulated:1", text="Hallo")))
            await self.producer.publish(TOPIC, envelope, key="simulated:1")
        return scoring_service_pb2.GetBrandScoresResponse(scores=score_pb2.BrandScores(label=request.label))


async def _serve(servicer: Scoring) -> AsyncIterator[scoring_service_pb2_grpc.ScoringServiceStub]:
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        name="scoring",
        services=[SCORING],
        register=lambda s: scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, s),
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield scoring_service_pb2_grpc.ScoringServiceStub(channel)
    finally:
        await server.stop(0)


def _ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    context = span.get_span_context()
    assert context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}", parent


def _by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == kind]


async def test_a_grpc_call_with_a_traceparent_gets_a_server_span_in_the_callers_trace(
    spans: InMemorySpanExporter,
) -> None:
    servicer = Scoring()
    async for stub in _serve(servicer):
        await stub.GetBrandScores(
            scoring_service_pb2.GetBrandScoresRequest(label="brand"),
            metadata=(("x-resonanz-tenant", "acme"), ("traceparent", CALLER)),
        )
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.GetBrandScores(
                scoring_service_pb2.GetBrandScoresRequest(label="missing"),
                metadata=(("x-resonanz-tenant", "acme"),),
            )
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    ok, missing = _by_kind(spans, SpanKind.SERVER)
    trace_id, span_id, parent = _ids(ok)
    assert (trace_id, parent) == (CALLER_TRACE, CALLER_SPAN)
    assert ok.name == f"{SCORING}/GetBrandScores"
    assert ok.attributes is not None
    assert ok.attributes["rpc.system"] == "grpc"
    assert ok.attributes["rpc.method"] == "GetBrandScores"
    assert ok.attributes["rpc.grpc.status_code"] == 0
    assert ok.status.status_code == StatusCode.UNSET
    # The handler's traceparent (what it sends onwards) names the server span itself.
    assert servicer.seen[0] == f"00-{trace_id}-{span_id}-01"
    # No traceparent: a new trace. NOT_FOUND is the caller's problem: recorded, not an ERROR span.
    missing_trace, _, missing_parent = _ids(missing)
    assert missing_trace != CALLER_TRACE
    assert missing_parent is None
    assert missing.attributes is not None
    assert missing.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert missing.status.status_code == StatusCode.UNSET


async def test_an_event_produced_in_a_call_and_consumed_stays_in_the_callers_trace(
    spans: InMemorySpanExporter, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TOPIC], prefix=topic_prefix)
    handled: list[tuple[ReceivedEvent, str | None]] = []

    async def handler(batch: Sequence[ReceivedEvent]) -> None:
        handled.extend((event, current_traceparent()) for event in batch)

    async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as producer:
        async for stub in _serve(Scoring(producer)):
            await stub.GetBrandScores(
                scoring_service_pb2.GetBrandScoresRequest(label="brand"),
                metadata=(("x-resonanz-tenant", "acme"), ("traceparent", CALLER)),
            )
        consumer = EventConsumer(
            kafka_bootstrap,
            group_id="otel",
            topics=[TOPIC],
            handler=handler,
            producer=producer,
            prefix=topic_prefix,
        )
        async with consumer:
            for _ in range(150):
                await consumer.poll_once()
                if handled:
                    break
                await asyncio.sleep(0.02)
    assert len(handled) == 1
    (server,) = _by_kind(spans, SpanKind.SERVER)
    (producer_span,) = _by_kind(spans, SpanKind.PRODUCER)
    (consumer_span,) = _by_kind(spans, SpanKind.CONSUMER)
    server_trace, server_id, _ = _ids(server)
    producer_trace, producer_id, producer_parent = _ids(producer_span)
    consumer_trace, consumer_id, consumer_parent = _ids(consumer_span)
    assert server_trace == producer_trace == consumer_trace == CALLER_TRACE
    assert producer_parent == server_id
    assert consumer_parent == producer_id
    # The Kafka header names the producer span; the handler runs in the consumer span.
    event, in_handler = handled[0]
    assert event.traceparent == f"00-{CALLER_TRACE}-{producer_id}-01"
    assert in_handler == f"00-{CALLER_TRACE}-{consumer_id}-01"
    assert producer_span.name == f"send {topic_prefix}{TOPIC}"
    assert consumer_span.attributes is not None
    assert consumer_span.attributes["messaging.consumer.group.name"] == "otel"
    assert consumer_span.attributes["messaging.message.id"] == event.envelope.event_id


async def test_a_failing_handler_marks_its_consumer_spans_as_errors(
    spans: InMemorySpanExporter, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TOPIC], prefix=topic_prefix)

    async def handler(batch: Sequence[ReceivedEvent]) -> None:
        raise RuntimeError("handler bug")

    async with EventProducer(kafka_bootstrap, prefix=topic_prefix) as producer:
        with use_traceparent(new_traceparent()):
            await producer.publish(
                TOPIC, new_envelope("acme", MentionCollected(mention=Mention(id="m"))), key="m"
            )
        consumer = EventConsumer(
            kafka_bootstrap,
            group_id="otel-fail",
            topics=[TOPIC],
            handler=handler,
            producer=producer,
            prefix=topic_prefix,
            max_attempts=1,
        )
        async with consumer:
            for _ in range(150):
                if await consumer.poll_once():
                    break
                await asyncio.sleep(0.02)
    (failed,) = _by_kind(spans, SpanKind.CONSUMER)
    assert failed.status.status_code == StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    # It continues the producer's trace.
    (produced,) = _by_kind(spans, SpanKind.PRODUCER)
    assert _ids(failed)[0] == _ids(produced)[0]
    assert _ids(failed)[2] == _ids(produced)[1]


class Listening(listening_service_pb2_grpc.ListeningServiceServicer):
    """StreamMentions as an async generator: two mentions, then a bug when asked."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def StreamMentions(  # noqa: N802
        self,
        request: listening_service_pb2.StreamMentionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[listening_service_pb2.StreamMentionsResponse]:
        for n in range(2):
            self.seen.append(current_traceparent())
            yield listening_service_pb2.StreamMentionsResponse(mention=Mention(id=f"m{n}"), cursor=str(n))
        if "boom" in request.labels:
            raise RuntimeError("stream bug")


async def test_a_server_stream_is_one_server_span_and_a_bug_marks_it_as_error(
    spans: InMemorySpanExporter,
) -> None:
    servicer = Listening()
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        name="listening",
        services=[listening_service_pb2.DESCRIPTOR.services_by_name["ListeningService"].full_name],
        register=lambda s: listening_service_pb2_grpc.add_ListeningServiceServicer_to_server(servicer, s),
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
            metadata = (("x-resonanz-tenant", "acme"), ("traceparent", CALLER))
            ok = [
                r
                async for r in stub.StreamMentions(
                    listening_service_pb2.StreamMentionsRequest(), metadata=metadata
                )
            ]
            assert len(ok) == 2
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                async for _ in stub.StreamMentions(
                    listening_service_pb2.StreamMentionsRequest(labels=["boom"]), metadata=metadata
                ):
                    pass
            assert failed.value.code() == grpc.StatusCode.INTERNAL
    finally:
        await server.stop(0)
    good, bad = _by_kind(spans, SpanKind.SERVER)
    assert _ids(good)[0] == _ids(bad)[0] == CALLER_TRACE
    assert good.status.status_code == StatusCode.UNSET
    assert bad.status.status_code == StatusCode.ERROR
    assert bad.attributes is not None
    assert bad.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    # Every message of a stream is sent under the same (server span's) traceparent.
    assert servicer.seen[0] == servicer.seen[1] == f"00-{CALLER_TRACE}-{_ids(good)[1]}-01"


def test_without_tracing_no_spans_are_made_and_the_traceparent_still_flows() -> None:
    assert otel.tracer() is None
    assert otel.start_span("x", SpanKind.INTERNAL, parent=CALLER) is None
    with otel.spans([("x", SpanKind.PRODUCER, CALLER, {})]) as traced:
        assert traced is None


def test_configure_tracing_without_an_endpoint_installs_nothing() -> None:
    assert otel.configure_tracing(Settings(otel_exporter_otlp_endpoint=""), "resonanz-test") is None
    assert otel.tracer() is None


def test_configure_tracing_with_an_endpoint_installs_a_batching_otlp_provider() -> None:
    # In a child process: the global provider can be set only once per process, and nothing may be
    # exported (no span is made; shutdown has nothing to send).
    script = """
import json
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from resonanz_sdk import otel
from resonanz_sdk.settings import Settings
settings = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:9", otel_service_name="")
first = otel.configure_tracing(settings, "resonanz-scoring")
again = otel.configure_tracing(settings, "resonanz-listening")
processors = first._active_span_processor._span_processors
print(json.dumps({
    "same": first is again,
    "global": trace.get_tracer_provider() is first,
    "name": first.resource.attributes["service.name"],
    "batch": [type(p).__name__ for p in processors],
    "otlp": [
        isinstance(p.span_exporter, OTLPSpanExporter) for p in processors if isinstance(p, BatchSpanProcessor)
    ],
    "tracer": otel.tracer() is not None,
}))
first.shutdown()
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "same": True,
        "global": True,
        "name": "resonanz-scoring",
        "batch": ["BatchSpanProcessor"],
        "otlp": [True],
        "tracer": True,
    }
