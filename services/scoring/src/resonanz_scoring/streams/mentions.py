"""The mentions agent: ``mentions.raw`` -> score -> store -> ``mentions.scored`` -> observers -> ack.

Per batch of up to ``RESONANZ_SCORING_BATCH_SIZE`` records (or what arrived within
``RESONANZ_SCORING_BATCH_SECONDS``), with no per-record work outside the batch:

1. decode every record (``EventEnvelope`` + sdk envelope checks + a usable ``MentionCollected``);
   a record that fails is poison and goes to ``mentions.raw.dlq`` at once (sdk dead-letter headers);
2. score the batch in a worker thread (:class:`~resonanz_scoring.scorer.MentionScorer`), so the
   gRPC server and the other agents keep running;
3. store it in one transaction (``ON CONFLICT DO NOTHING``: a redelivered or re-collected mention is
   stored once);
4. publish ``mentions.scored`` for the rows not done yet (new ones, and any stored earlier whose
   batch did not finish), all sends first, then all acks; the event id is deterministic;
5. hand those items to every :class:`~resonanz_scoring.streams.observers.BatchObserver`;
6. flag the rows done, and only then acknowledge the records (faust commits acknowledged offsets
   every ``RESONANZ_SCORING_COMMIT_INTERVAL_SECONDS``). At least once end to end.

A failing step fails the batch, which is retried by the sdk consumer's rules
(:mod:`~resonanz_scoring.streams.retry`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from resonanz.common.v1 import mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk import metrics
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import EventProducer, Topic, check_envelope, new_envelope
from resonanz_sdk.tracing import use_traceparent

from resonanz_scoring.convert import score_from_row
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.sentiment import Sentiment
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.streams.observers import BatchObserver, ScoredItem
from resonanz_scoring.streams.records import Record, dead_letter
from resonanz_scoring.streams.retry import run_with_retries

__all__ = ["SCORED_EVENT_NAMESPACE", "Collected", "MentionPipeline", "decode_mention", "scored_event_id"]

log = logging.getLogger(__name__)

#: Namespace of the deterministic event ids of ``mentions.scored`` (uuid5 of tenant and mention id),
#: so that downstream consumers de-duplicate a re-emitted event.
SCORED_EVENT_NAMESPACE = uuid.UUID("6f2d1c8e-5a77-4a5e-9c1e-7d0b1e4b2a10")


def scored_event_id(tenant: str, mention_id: str) -> str:
    return uuid.uuid5(SCORED_EVENT_NAMESPACE, f"{tenant}\x00{mention_id}").hex


@dataclass(frozen=True, slots=True)
class Collected:
    """A decoded ``mentions.raw`` record."""

    record: Record
    tenant: str
    mention: mention_pb2.Mention
    traceparent: str | None


def decode_mention(record: Record) -> Collected:
    """The mention of a ``mentions.raw`` record; raises (DecodeError, ValidationError) for poison."""
    envelope = events_pb2.EventEnvelope.FromString(record.value or b"")
    check_envelope(envelope)
    if envelope.WhichOneof("payload") != "mention_collected":
        raise ValidationError.single("payload", f"expected MentionCollected, got {envelope.type}")
    mention = envelope.mention_collected.mention
    if not mention.id:
        raise ValidationError.single("mention.id", "must not be empty")
    if mention.tenant and mention.tenant != envelope.tenant:
        raise ValidationError.single("mention.tenant", "differs from the envelope's tenant")
    return Collected(record, envelope.tenant, mention, record.header("traceparent"))


def _scored_envelope(item: ScoredItem) -> events_pb2.EventEnvelope:
    envelope = new_envelope(item.tenant, events_pb2.MentionScored(mention=item.mention, score=item.score))
    envelope.event_id = scored_event_id(item.tenant, item.mention.id)
    return envelope


def _item_of_row(row: dict[str, Any]) -> ScoredItem:
    return ScoredItem(row["tenant"], mention_pb2.Mention.FromString(row["mention"]), score_from_row(row))


class MentionPipeline:
    """Everything the mentions agent does with a batch, independent of faust (tested on its own)."""

    def __init__(
        self,
        scorer: MentionScorer,
        store: ScoreStore,
        producer: EventProducer,
        observers: Sequence[BatchObserver],
        *,
        group: str,
        max_attempts: int = 3,
    ) -> None:
        self.scorer = scorer
        self.store = store
        self.producer = producer
        self.observers = observers
        self.group = group
        self.max_attempts = max_attempts

    async def process(self, records: Sequence[Record]) -> None:
        """Handle one batch; returns when every record is done or dead-lettered."""
        collected: list[Collected] = []
        for record in records:
            try:
                collected.append(decode_mention(record))
            except Exception as exc:  # DecodeError, ValidationError: poison, not retryable
                await dead_letter(self.producer, record, exc, attempts=0, group=self.group)
        failed = await run_with_retries(
            collected, self.handle, max_attempts=self.max_attempts, what="scoring batch"
        )
        for item, error in failed:
            await dead_letter(self.producer, item.record, error, attempts=self.max_attempts, group=self.group)
        done = len(collected) - len(failed)
        if done:
            metrics.EVENTS_CONSUMED.labels(topic=Topic.MENTIONS_RAW, group=self.group, outcome="ok").inc(done)

    async def handle(self, batch: Sequence[Collected]) -> None:
        started = time.perf_counter()
        with use_traceparent(batch[0].traceparent):
            items = [(c.tenant, c.mention) for c in batch]
            now = datetime.now(UTC)
            scores = await asyncio.to_thread(self.scorer.score_batch, items, now)
            scored = [
                ScoredItem(tenant, mention, score)
                for (tenant, mention), score in zip(items, scores, strict=True)
            ]
            todo = await self._store(scored)
            if todo:
                await self.producer.publish_many(
                    Topic.MENTIONS_SCORED, [(item.mention.id, _scored_envelope(item)) for item in todo]
                )
                for observer in self.observers:
                    await observer.observe(todo)
                await self.store.mark_emitted((item.tenant, item.mention.id) for item in todo)
        metrics.SCORING_LATENCY.observe(time.perf_counter() - started)

    async def _store(self, scored: Sequence[ScoredItem]) -> list[ScoredItem]:
        """Store the batch; returns the items not done yet (first occurrence per tenant and id)."""
        by_key: dict[tuple[str, str], ScoredItem] = {}
        for item in scored:
            by_key.setdefault((item.tenant, item.mention.id), item)
        new_rows = await self.store.save_batch([(item.mention, item.score) for item in by_key.values()])
        for row in new_rows:
            metrics.MENTIONS_SCORED.labels(
                language=row["language"], sentiment=Sentiment(row["sentiment"]).label
            ).inc()
        new_keys = {(row["tenant"], row["mention_id"]) for row in new_rows}
        todo = [by_key[key] for key in by_key if key in new_keys]
        # Stored before but not done (a batch that failed after its store): take the stored row.
        earlier = [key for key in by_key if key not in new_keys]
        if earlier:
            todo += [_item_of_row(row) for row in await self.store.pending(earlier)]
        return todo
