"""Prometheus metrics of every Resonanz role, all named ``resonanz_*``, and the ``/metrics`` endpoint.

The metric objects live in the default registry, so every module counts into the same one and every
role in one process (the embedded default) shares one endpoint: label them, then ``inc()`` / ``set()`` /
``observe()``. Label values are short and bounded: never tenants, ids or free text.

=============================================  =========  ==================================
name                                           type       labels
=============================================  =========  ==================================
``resonanz_rpc_requests_total``                counter    service, method, code
``resonanz_rpc_latency_seconds``               histogram  service, method
``resonanz_events_consumed_total``             counter    topic, group, outcome
``resonanz_events_produced_total``             counter    topic
``resonanz_consumer_lag``                      gauge      topic, group
``resonanz_dead_letters_total``                counter    topic
``resonanz_publish_outcomes_total``            counter    network, outcome
``resonanz_mentions_collected_total``          counter    network
``resonanz_mentions_produced_total``           counter    network
``resonanz_mentions_scored_total``             counter    language, sentiment
``resonanz_scoring_latency_seconds``           histogram  (none)
``resonanz_collection_leases_held``            gauge      network
``resonanz_collection_leases_expired_total``   counter    network
``resonanz_collection_errors_total``           counter    network, kind
``resonanz_collection_backed_off``             gauge      network
``resonanz_collection_rounds_total``           counter    network, outcome
``resonanz_backfill_jobs``                     gauge      state
``resonanz_backfill_mentions_total``           counter    network
``resonanz_alerts_raised_total``               counter    kind, severity
``resonanz_sentiment_scorer_info``             gauge      scorer, version
=============================================  =========  ==================================

Names follow the Prometheus conventions: counters end in ``_total`` (prometheus_client appends it to the
name given to ``Counter``), durations are ``_seconds`` histograms, the consumer lag is a plain count of
records. ``docs/observability.md`` lists what each one means, and the dashboard and alert rules in
``deploy/observability/`` use only these names (a test checks it).
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from resonanz_sdk.errors import ConfigurationError

__all__ = [
    "ALERTS_RAISED",
    "BACKFILL_JOBS",
    "BACKFILL_MENTIONS",
    "COLLECTION_BACKED_OFF",
    "COLLECTION_ERRORS",
    "COLLECTION_LEASES_EXPIRED",
    "COLLECTION_LEASES_HELD",
    "COLLECTION_ROUNDS",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "EVENTS_CONSUMED",
    "EVENTS_PRODUCED",
    "MENTIONS_COLLECTED",
    "MENTIONS_PRODUCED",
    "MENTIONS_SCORED",
    "PUBLISH_OUTCOMES",
    "RPC_LATENCY",
    "RPC_REQUESTS",
    "SCORING_LATENCY",
    "SENTIMENT_SCORER_INFO",
    "start_metrics_server",
]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RPC_REQUESTS = Counter(
    "resonanz_rpc_requests",
    "gRPC calls handled, by final status code name (OK, INVALID_ARGUMENT, ...).",
    ["service", "method", "code"],
)
RPC_LATENCY = Histogram(
    "resonanz_rpc_latency_seconds",
    "Time to handle a gRPC call (server-streaming: until the stream ends).",
    ["service", "method"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS_CONSUMED = Counter(
    "resonanz_events_consumed",
    "Kafka events consumed, by outcome (ok, duplicate, dead_lettered).",
    ["topic", "group", "outcome"],
)
EVENTS_PRODUCED = Counter("resonanz_events_produced", "Kafka events produced (acknowledged).", ["topic"])
CONSUMER_LAG = Gauge(
    "resonanz_consumer_lag",
    "Records behind the partition ends, summed over the partitions this consumer owns (after its last "
    "batch); sum by group and topic across pods for the group's lag.",
    ["topic", "group"],
)
DEAD_LETTERS = Counter(
    "resonanz_dead_letters",
    "Records sent to the dead-letter topic <topic>.dlq (topic: the logical topic they came from).",
    ["topic"],
)
PUBLISH_OUTCOMES = Counter(
    "resonanz_publish_outcomes",
    "Publish attempts against a network, by outcome (published, retried, failed, ...).",
    ["network", "outcome"],
)
MENTIONS_COLLECTED = Counter(
    "resonanz_mentions_collected",
    "New mentions stored from a network's search (after de-duplication).",
    ["network"],
)
MENTIONS_PRODUCED = Counter(
    "resonanz_mentions_produced",
    "New mentions produced to mentions.raw (after de-duplication, acknowledged by the broker).",
    ["network"],
)
MENTIONS_SCORED = Counter(
    "resonanz_mentions_scored",
    "Mentions scored, by detected language and sentiment class.",
    ["language", "sentiment"],
)
SCORING_LATENCY = Histogram(
    "resonanz_scoring_latency_seconds", "Time to score one batch of mentions.", buckets=_LATENCY_BUCKETS
)

# -- listening collection: one listening role per process (the gauges describe that role) ----------
COLLECTION_LEASES_HELD = Gauge(
    "resonanz_collection_leases_held",
    "(query, network) collection leases this replica holds, after its last lease sync.",
    ["network"],
)
COLLECTION_LEASES_EXPIRED = Counter(
    "resonanz_collection_leases_expired",
    "Collection leases this replica took over after another replica let them expire (failover).",
    ["network"],
)
COLLECTION_ERRORS = Counter(
    "resonanz_collection_errors",
    "Failed searches or streams of a (query, network) pair, by kind (rate_limited, transient, auth, other).",
    ["network", "kind"],
)
COLLECTION_BACKED_OFF = Gauge(
    "resonanz_collection_backed_off",
    "Polled pairs this replica holds that are backing off after an error (at the start of its last round).",
    ["network"],
)
COLLECTION_ROUNDS = Counter(
    "resonanz_collection_rounds",
    "Poll rounds of a network on this replica, by outcome (ok, error, throttled).",
    ["network", "outcome"],
)
BACKFILL_JOBS = Gauge(
    "resonanz_backfill_jobs",
    "Backfill jobs: running (on this replica) and queued (waiting for any replica; same on every pod).",
    ["state"],
)
BACKFILL_MENTIONS = Counter(
    "resonanz_backfill_mentions",
    "New mentions stored by backfill jobs (after de-duplication).",
    ["network"],
)

# -- scoring --------------------------------------------------------------------------------------
ALERTS_RAISED = Counter(
    "resonanz_alerts_raised",
    "Crisis alerts raised (new alerts only, not re-sends), by kind and severity.",
    ["kind", "severity"],
)
SENTIMENT_SCORER_INFO = Gauge(
    "resonanz_sentiment_scorer_info",
    "1 for the sentiment scorer this process loaded: its configured name and its version (score name).",
    ["scorer", "version"],
)

_lock = threading.Lock()
_started: dict[int, str] = {}


def start_metrics_server(port: int, *, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``addr:port`` in a daemon thread; port 0 disables it.

    Calling it again with a port already served does nothing, so every role of one process may call it.
    Raises ConfigurationError when the port cannot be bound.
    """
    if port == 0:
        return
    with _lock:
        if port in _started:
            return
        try:
            start_http_server(port, addr=addr)
        except OSError as exc:
            raise ConfigurationError(f"cannot serve metrics on {addr}:{port}: {exc}") from exc
        _started[port] = addr
