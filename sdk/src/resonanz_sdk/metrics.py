"""Prometheus metrics shared by every role, all prefixed ``resonanz_``.

``start_metrics_server(port)`` serves ``/metrics`` (0 disables it). The metric objects live here so
every module counts into the same registry: label them, then ``inc()`` / ``set()`` / ``observe()``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "CONSUMER_LAG",
    "EVENTS_CONSUMED",
    "EVENTS_PRODUCED",
    "MENTIONS_COLLECTED",
    "MENTIONS_SCORED",
    "PUBLISH_OUTCOMES",
    "RPC_LATENCY",
    "RPC_REQUESTS",
    "SCORING_LATENCY",
    "start_metrics_server",
]

RPC_REQUESTS = Counter("resonanz_rpc_requests", "gRPC requests handled", ["service", "method", "code"])
RPC_LATENCY = Histogram("resonanz_rpc_latency_seconds", "gRPC request latency", ["service", "method"])
EVENTS_CONSUMED = Counter(
    "resonanz_events_consumed",
    "Events taken from Kafka, by outcome (ok, duplicate, dead_lettered)",
    ["topic", "group", "outcome"],
)
EVENTS_PRODUCED = Counter("resonanz_events_produced", "Events published to Kafka", ["topic"])
CONSUMER_LAG = Gauge(
    "resonanz_consumer_lag", "Records behind the partition end after the last batch", ["topic", "group"]
)
PUBLISH_OUTCOMES = Counter("resonanz_publish_outcomes", "Publish attempts by outcome", ["network", "outcome"])
MENTIONS_COLLECTED = Counter("resonanz_mentions_collected", "Mentions collected", ["network"])
MENTIONS_SCORED = Counter("resonanz_mentions_scored", "Mentions scored", ["language", "sentiment"])
SCORING_LATENCY = Histogram("resonanz_scoring_latency_seconds", "Time to score one batch of mentions")


def start_metrics_server(port: int) -> None:
    """Serve ``/metrics`` on ``port`` in a daemon thread; 0 disables it."""
    if port:
        start_http_server(port)
