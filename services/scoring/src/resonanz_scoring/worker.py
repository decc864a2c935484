"""The ``mentions.raw`` consumer's handler: validate, score the batch, store it, emit ``mentions.scored``.

A batch is scored at once (in a worker thread, so the gRPC server keeps answering), stored in one
transaction, and only then published. An event that is not a valid ``MentionCollected`` raises
ValidationError: the consumer then retries the batch event by event and dead-letters only that one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from resonanz.common.v1 import mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk import metrics
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import EventProducer, ReceivedEvent, Topic, new_envelope, payload_of

from resonanz_scoring.convert import score_from_row
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.sentiment import Sentiment
from resonanz_scoring.store import ScoreStore

#: Namespace of the deterministic event ids of ``mentions.scored`` (uuid5 of tenant and mention id),
#: so that downstream consumers de-duplicate a re-emitted event.
SCORED_EVENT_NAMESPACE = uuid.UUID("6f2d1c8e-5a77-4a5e-9c1e-7d0b1e4b2a10")


def mention_of(event: ReceivedEvent) -> mention_pb2.Mention:
    """The mention of a ``mentions.raw`` event; ValidationError when the event is not a usable one."""
    payload = payload_of(event.envelope)
    if not isinstance(payload, events_pb2.MentionCollected):
        raise ValidationError.single("payload", f"expected MentionCollected, got {type(payload).__name__}")
    mention = payload.mention
    if not mention.id:
        raise ValidationError.single("mention.id", "must not be empty")
    if mention.tenant and mention.tenant != event.envelope.tenant:
        raise ValidationError.single("mention.tenant", "differs from the envelope's tenant")
    return mention


def scored_envelope(row: dict[str, Any]) -> events_pb2.EventEnvelope:
    mention = mention_pb2.Mention.FromString(row["mention"])
    envelope = new_envelope(
        row["tenant"], events_pb2.MentionScored(mention=mention, score=score_from_row(row))
    )
    envelope.event_id = uuid.uuid5(SCORED_EVENT_NAMESPACE, f"{row['tenant']}\x00{row['mention_id']}").hex
    return envelope


class ScoringWorker:
    def __init__(self, scorer: MentionScorer, store: ScoreStore, producer: EventProducer) -> None:
        self.scorer = scorer
        self.store = store
        self.producer = producer

    async def handle(self, batch: Sequence[ReceivedEvent]) -> None:
        started = time.perf_counter()
        items = [(event.envelope.tenant, mention_of(event)) for event in batch]
        now = datetime.now(UTC)
        scores = await asyncio.to_thread(self.scorer.score_batch, items, now)
        new_rows = await self.store.save_batch(
            [(mention, score) for (_, mention), score in zip(items, scores, strict=True)]
        )
        for row in new_rows:
            metrics.MENTIONS_SCORED.labels(
                language=row["language"], sentiment=Sentiment(row["sentiment"]).label
            ).inc()
        keys = [(tenant, mention.id) for tenant, mention in items]
        pending = await self.store.pending(keys)
        if pending:
            await self.producer.publish_many(
                Topic.MENTIONS_SCORED, [(row["mention_id"], scored_envelope(row)) for row in pending]
            )
            await self.store.mark_emitted((row["tenant"], row["mention_id"]) for row in pending)
        metrics.SCORING_LATENCY.observe(time.perf_counter() - started)
