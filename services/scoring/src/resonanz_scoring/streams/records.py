"""Records as the agents see them, and their dead letters.

:class:`Record` is a faust event reduced to what the agents need (taken once per record, no
decoding); :func:`dead_letter` sends one to ``<topic>.dlq`` with the sdk's dead-letter headers, so a
record dead-lettered by a faust agent looks exactly like one dead-lettered by the sdk consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from resonanz_sdk import metrics
from resonanz_sdk.eventbus import EventProducer, dead_letter_headers, dlq_name

__all__ = ["Record", "dead_letter", "records_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record; ``topic`` is the logical name (without the topic prefix)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        for key, value in reversed(self.headers):
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None


def records_of(events: Sequence[faust.types.EventT[Any]], prefix: str) -> list[Record]:
    cut = len(prefix)
    records: list[Record] = []
    for event in events:
        message = event.message
        topic = message.topic
        raw_headers = message.headers
        headers = list(raw_headers.items()) if isinstance(raw_headers, Mapping) else list(raw_headers or ())
        records.append(
            Record(
                topic=topic[cut:] if cut and topic.startswith(prefix) else topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                headers=headers,
            )
        )
    return records


async def dead_letter(
    producer: EventProducer, record: Record, error: BaseException, *, attempts: int, group: str
) -> None:
    """Publish ``record`` to its topic's DLQ (raises BrokerError when the DLQ cannot take it)."""
    log.error(
        "dead-lettering %s[%d]@%d after %d attempts: %s: %s",
        record.topic,
        record.partition,
        record.offset,
        attempts,
        type(error).__name__,
        str(error) or repr(error),
    )
    headers = dead_letter_headers(
        record.headers,
        error,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        attempts=attempts,
    )
    await producer.publish_raw(dlq_name(record.topic), record.value, key=record.key, headers=headers)
    metrics.EVENTS_CONSUMED.labels(topic=record.topic, group=group, outcome="dead_lettered").inc()
    metrics.DEAD_LETTERS.labels(topic=record.topic).inc()
