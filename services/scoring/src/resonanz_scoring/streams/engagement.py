"""The engagement agent: ``engagement.updates`` (subject MENTION) refresh stored mentions.

Per batch: decode the envelopes (poison -> ``engagement.updates.dlq``), keep the ``EngagementUpdated``
events about mentions (``ENGAGEMENT_SUBJECT_MENTION``; the brand's own posts are the campaigns
extension's), and apply the newest counts per mention in one transaction
(:func:`~resonanz_scoring.store.apply_engagement`): the counts, engagement, engagement rate, reach and
impressions are recomputed exactly as at scoring time, with the network's engagement definition.
A measurement not newer than the mention's last refresh changes nothing (idempotent, order-safe).
No ``mentions.scored`` event is re-emitted: the gRPC API reads the refreshed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import faust
from resonanz.events.v1 import events_pb2
from resonanz_sdk import metrics
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import Topic, check_envelope

from resonanz_scoring.store import EngagementRefresh, apply_engagement
from resonanz_scoring.streams.app import app_id
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.records import Record, dead_letter, records_of
from resonanz_scoring.streams.retry import run_with_retries

__all__ = ["EngagementPipeline", "decode_refresh", "register"]


def decode_refresh(record: Record) -> EngagementRefresh | None:
    """The refresh a record carries; None for an update about something else than a mention;
    raises (DecodeError, ValidationError) for poison."""
    envelope = events_pb2.EventEnvelope.FromString(record.value or b"")
    check_envelope(envelope)
    if envelope.WhichOneof("payload") != "engagement_updated":
        raise ValidationError.single("payload", f"expected EngagementUpdated, got {envelope.type}")
    update = envelope.engagement_updated
    if update.subject != events_pb2.ENGAGEMENT_SUBJECT_MENTION:
        return None
    mention_id = update.mention_id or (f"{update.network}:{update.external_id}" if update.external_id else "")
    if not mention_id:
        raise ValidationError.single("mention_id", "must not be empty")
    if not update.HasField("measured_at"):
        raise ValidationError.single("measured_at", "is required")
    return EngagementRefresh(
        tenant=envelope.tenant,
        mention_id=mention_id,
        counts=update.engagement,
        measured_at=update.measured_at.ToDatetime(tzinfo=UTC),
    )


class EngagementPipeline:
    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.group = app_id(ctx.settings)

    async def process(self, records: Sequence[Record]) -> int:
        """Apply a batch; returns how many stored mentions changed."""
        refreshes: list[tuple[Record, EngagementRefresh]] = []
        for record in records:
            try:
                refresh = decode_refresh(record)
            except Exception as exc:  # poison
                await dead_letter(self.ctx.producer, record, exc, attempts=0, group=self.group)
                continue
            if refresh is not None:
                refreshes.append((record, refresh))
        changed = 0

        async def handle(batch: Sequence[tuple[Record, EngagementRefresh]]) -> None:
            nonlocal changed
            changed += await apply_engagement(
                self.ctx.engine, [refresh for _, refresh in batch], self.ctx.scorer.metrics.metrics
            )

        attempts = self.ctx.settings.scoring_max_attempts
        failed = await run_with_retries(refreshes, handle, max_attempts=attempts, what="engagement batch")
        for (record, _), error in failed:
            await dead_letter(self.ctx.producer, record, error, attempts=attempts, group=self.group)
        metrics.EVENTS_CONSUMED.labels(topic=Topic.ENGAGEMENT_UPDATES, group=self.group, outcome="ok").inc(
            len(records)
        )
        return changed


def register(app: faust.App, ctx: StreamContext) -> None:
    """Define the engagement agent on ``app`` (an entry of the extension list)."""
    settings = ctx.settings
    pipeline = EngagementPipeline(ctx)
    prefix = settings.topic_prefix
    size, within = settings.scoring_batch_size, settings.scoring_batch_seconds

    async def refresh_engagement(stream: faust.StreamT[Any]) -> None:
        assert isinstance(stream, faust.Stream)  # noack_take is not on the StreamT protocol
        async for events in stream.noack_take(size, within=within):
            await ctx.guard(pipeline.process(records_of(events, prefix)))
            for event in events:
                await stream.ack(event)

    app.agent(ctx.topic(Topic.ENGAGEMENT_UPDATES), name="scoring-engagement")(refresh_engagement)
