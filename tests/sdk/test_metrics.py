"""The /metrics endpoint and the metric objects every role shares."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import REGISTRY
from resonanz_sdk import metrics
from resonanz_sdk.errors import ConfigurationError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_endpoint_serves_resonanz_metrics() -> None:
    port = _free_port()
    metrics.start_metrics_server(port, addr="127.0.0.1")
    metrics.start_metrics_server(port, addr="127.0.0.1")  # a second role in the same process: no error
    metrics.PUBLISH_OUTCOMES.labels("simulated", "published").inc()
    metrics.MENTIONS_SCORED.labels("de", "positive").inc(3)
    metrics.CONSUMER_LAG.labels("mentions.raw", "scoring").set(17)
    body = _scrape(port)
    assert 'resonanz_publish_outcomes_total{network="simulated",outcome="published"}' in body
    assert 'resonanz_mentions_scored_total{language="de",sentiment="positive"}' in body
    assert 'resonanz_consumer_lag{group="scoring",topic="mentions.raw"} 17.0' in body
    for name in (
        "resonanz_rpc_requests_total counter",
        "resonanz_rpc_latency_seconds histogram",
        "resonanz_events_consumed_total counter",
        "resonanz_events_produced_total counter",
        "resonanz_mentions_collected_total counter",
        "resonanz_scoring_latency_seconds histogram",
    ):
        assert f"# TYPE {name}\n" in body


def test_port_zero_disables_the_endpoint() -> None:
    metrics.start_metrics_server(0)  # nothing to observe but that it does not raise or bind


def test_a_taken_port_is_a_configuration_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        with pytest.raises(ConfigurationError, match=str(port)):
            metrics.start_metrics_server(port, addr="127.0.0.1")


def test_counters_count_with_their_labels() -> None:
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    labels = {"topic": "mentions.raw", "group": "scoring", "outcome": "dead_lettered"}
    before = sample("resonanz_events_consumed_total", labels)
    metrics.EVENTS_CONSUMED.labels(**labels).inc()
    metrics.EVENTS_CONSUMED.labels(topic="mentions.raw", group="scoring", outcome="ok").inc(5)
    assert sample("resonanz_events_consumed_total", labels) - before == 1
    count_before = sample("resonanz_scoring_latency_seconds_count", {})
    metrics.SCORING_LATENCY.observe(0.004)
    assert sample("resonanz_scoring_latency_seconds_count", {}) - count_before == 1
