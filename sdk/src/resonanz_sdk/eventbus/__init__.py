"""The event bus: protobuf envelopes on Kafka topics, produced and consumed at least once.

See ``docs/event-bus.md`` for topics, envelope, headers, dead letters and idempotency.
"""

from __future__ import annotations

from resonanz_sdk.eventbus.admin import ensure_topics
from resonanz_sdk.eventbus.consumer import BatchHandler, EventConsumer, ReceivedEvent, dead_letter_headers
from resonanz_sdk.eventbus.dedupe import InMemoryProcessedEvents, ProcessedEvents
from resonanz_sdk.eventbus.envelope import EventEnvelope, check_envelope, new_envelope, payload_of
from resonanz_sdk.eventbus.producer import EventProducer, envelope_headers
from resonanz_sdk.eventbus.security import SASL_MECHANISMS, SECURITY_PROTOCOLS, kafka_client_options
from resonanz_sdk.eventbus.topics import DLQ_SUFFIX, Topic, dlq_name, topic_name

__all__ = [
    "DLQ_SUFFIX",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "BatchHandler",
    "EventConsumer",
    "EventEnvelope",
    "EventProducer",
    "InMemoryProcessedEvents",
    "ProcessedEvents",
    "ReceivedEvent",
    "Topic",
    "check_envelope",
    "dead_letter_headers",
    "dlq_name",
    "ensure_topics",
    "envelope_headers",
    "kafka_client_options",
    "new_envelope",
    "payload_of",
    "topic_name",
]
