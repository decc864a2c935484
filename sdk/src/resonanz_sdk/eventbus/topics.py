"""Logical Kafka topic names and how they map to real names (prefix) and dead-letter topics."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DLQ_SUFFIX", "Topic", "dlq_name", "topic_name"]

DLQ_SUFFIX = ".dlq"


class Topic(StrEnum):
    """Every topic Resonanz produces to; each also has a ``<topic>.dlq`` dead-letter topic."""

    PUBLISH_REQUESTS = "publish.requests"
    PUBLISH_RESULTS = "publish.results"
    MENTIONS_RAW = "mentions.raw"
    MENTIONS_SCORED = "mentions.scored"
    ENGAGEMENT_UPDATES = "engagement.updates"
    ALERTS = "alerts"


def topic_name(topic: str, prefix: str = "") -> str:
    """The real topic name of a logical one: ``prefix + topic`` (``Topic`` members are plain strings)."""
    return f"{prefix}{topic}"


def dlq_name(name: str) -> str:
    """The dead-letter topic of ``name``: ``name + ".dlq"``."""
    return f"{name}{DLQ_SUFFIX}"
