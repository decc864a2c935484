"""Crisis alerts: per (tenant, label) buckets of negative mentions, all mentions and negative reach,
watched by EWMA spike detectors, raising one alert per crisis to Kafka (``alerts``) and the database.

Data path
    The :class:`LabelActivityObserver` sums each scored batch into per-bucket deltas per (tenant,
    label) (mentions, negative mentions, negative reach, the five negative mentions with the most
    reach) and sends one ``LabelActivity`` event per (tenant, label) to ``<prefix>scoring.label-activity``
    keyed ``"<tenant>\\x00<label>"``. The agent keeps one :class:`LabelState` per key in the table
    ``scoring-crisis`` (changelogged, recovered at start): the open buckets, the three
    :class:`~resonanz_scoring.analytics.alerts.SpikeDetector` states and an alert outbox.

Closing buckets
    A bucket ``[b, b + L)`` is closed, and fed to the detectors, when the label's event-time watermark
    (the newest mention time seen) passes ``b + L + grace``, or, for a label that went quiet, when
    the wall clock does and nothing arrived for ``grace`` seconds: the leader's timer sends a
    ``CrisisTick`` to every partition every ``RESONANZ_ALERT_TICK_SECONDS``. Mentions of an already
    closed bucket are late and not counted (a backfill of old mentions does not raise alerts).

One crisis, one alert
    Negative mentions that are pure reshares count in the volume only (a reshare repeats a voice; its
    audience is in the original's reach). A closed bucket raises an alert when the label is armed and
    the negative count spikes, or the negative reach or the volume spikes while the negative count is
    at least ``RESONANZ_ALERT_CORROBORATION_Z`` standard deviations above its baseline too (one big
    account's post or positive buzz is no crisis). The alert's kind is the strongest series that
    spiked (negative count, then negative reach, then volume); its id is deterministic (uuid5 of
    tenant, label, kind and bucket start), so a re-emission is de-duplicated downstream and in the
    database. The label is then disarmed until ``RESONANZ_ALERT_COOLDOWN_BUCKETS`` buckets in a row
    (empty ones included) are calm: no series spiking with corroboration and the negative count below
    the z threshold.

Delivery
    An alert is first written to the state's outbox (table), then to the database (insert-or-ignore)
    and to Kafka; the outbox is cleared after both. After a crash in between, the next event or tick
    of the label sends the outbox again (at least once, with the same id). A ``LabelActivity`` event
    delivered twice is counted once (the agent remembers the last event ids per label); a batch
    observed again after a crash is normally the same batch (same event id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk import metrics
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import ALERTS, upsert
from resonanz_scoring.analytics.alerts import Severity, Spike, SpikeConfig, SpikeDetector
from resonanz_scoring.analytics.windows import EPOCH
from resonanz_scoring.analytics.windows import bucket_start as align
from resonanz_scoring.convert import occurred_at
from resonanz_scoring.models import LABEL_LEN
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.observers import ScoredItem

__all__ = [
    "ALERT_NAMESPACE",
    "AlertSink",
    "CrisisProcessor",
    "LabelActivityObserver",
    "LabelState",
    "label_activity_events",
    "register",
    "spike_config",
]

log = logging.getLogger(__name__)

TOPIC = "label-activity"
#: Namespace of alert ids: uuid5 of "tenant NUL label NUL kind NUL bucket start (ISO)".
ALERT_NAMESPACE = uuid.UUID("0b6c5f7e-3d1a-4f55-9a61-2f7c8e4d9b13")
#: Namespace of LabelActivity event ids: uuid5 of the sorted mention ids of the delta.
ACTIVITY_NAMESPACE = uuid.UUID("9e0d7a44-51c2-4a3f-8b6d-6c2b1f0e7a55")
#: Sample mentions kept per bucket and named in an alert.
SAMPLES = 5
#: Event ids remembered per label (de-duplication of redelivered LabelActivity events).
REMEMBERED_EVENTS = 64
#: Buckets more than this far ahead of the wall clock are ignored (a clock gone wrong).
FUTURE_SLACK_BUCKETS = 2

NEGATIVE = score_pb2.SENTIMENT_NEGATIVE

#: Series of a label, strongest first, and their alert kinds.
SERIES: tuple[tuple[str, events_pb2.AlertKind.ValueType], ...] = (
    ("negative", events_pb2.ALERT_KIND_NEGATIVE_SPIKE),
    ("negative_reach", events_pb2.ALERT_KIND_NEGATIVE_REACH_SPIKE),
    ("volume", events_pb2.ALERT_KIND_VOLUME_SPIKE),
)


def spike_config(settings: Settings) -> SpikeConfig:
    """The detector tuning from ``RESONANZ_ALERT_*`` (critical at twice the z threshold)."""
    return SpikeConfig(
        bucket=timedelta(seconds=settings.alert_bucket_seconds),
        alpha=settings.alert_ewma_alpha,
        z_threshold=settings.alert_z_threshold,
        critical_z=2 * settings.alert_z_threshold,
        min_count=settings.alert_min_negative,
        warmup_buckets=settings.alert_warmup_buckets,
        cooldown_buckets=settings.alert_cooldown_buckets,
    )


def _us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _key(tenant: str, label: str) -> str:
    return f"{tenant}\x00{label}"


def _top(samples: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    best: dict[str, int] = {}
    for mention_id, reach in samples:
        best[mention_id] = max(reach, best.get(mention_id, 0))
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:SAMPLES]


# -- the observer ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Delta:
    mentions: int = 0
    negative: int = 0
    negative_reach: int = 0
    samples: list[tuple[str, int]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def label_activity_events(
    items: Sequence[ScoredItem], bucket: timedelta
) -> list[tuple[bytes, events_pb2.EventEnvelope]]:
    """One ``LabelActivity`` envelope per (tenant, label) of a scored batch, with a deterministic
    event id (the same batch gives the same id)."""
    groups: dict[tuple[str, str], dict[datetime, _Delta]] = {}
    latest: dict[tuple[str, str], datetime] = {}
    for item in items:
        labels = {label.strip()[:LABEL_LEN] for label in item.mention.labels if label.strip()}
        if not labels:
            continue
        at = occurred_at(item.mention, item.score.scored_at.ToDatetime(tzinfo=UTC))
        start = align(at, bucket)
        # A pure reshare repeats a voice, it adds none: it counts in the volume, not in the negative
        # series (its audience is in the original's estimated reach already).
        negative = item.score.sentiment == NEGATIVE and not item.mention.reshare_of_id
        reach = max(0, item.score.estimated_reach)
        for label in labels:
            key = (item.tenant, label)
            delta = groups.setdefault(key, {}).setdefault(start, _Delta())
            delta.mentions += 1
            delta.ids.append(item.mention.id)
            if negative:
                delta.negative += 1
                delta.negative_reach += reach
                delta.samples = _top([*delta.samples, (item.mention.id, reach)])
            latest[key] = max(at, latest.get(key, at))
    events = []
    for (tenant, label), buckets in groups.items():
        activity = events_pb2.LabelActivity(label=label, latest=_timestamp(latest[(tenant, label)]))
        ids: list[str] = []
        for start in sorted(buckets):
            delta = buckets[start]
            ids += delta.ids
            activity.buckets.append(
                events_pb2.LabelBucketDelta(
                    bucket_start=_timestamp(start),
                    mentions=delta.mentions,
                    negative=delta.negative,
                    negative_reach=delta.negative_reach,
                    samples=[events_pb2.SampleMention(mention_id=m, reach=r) for m, r in delta.samples],
                )
            )
        envelope = new_envelope(tenant, activity)
        envelope.event_id = uuid.uuid5(ACTIVITY_NAMESPACE, "\x00".join([label, *sorted(ids)])).hex
        events.append((_key(tenant, label).encode(), envelope))
    return events


class LabelActivityObserver:
    """Sends each scored batch's per-label bucket deltas to the crisis agent."""

    def __init__(self, topic: faust.TopicT, bucket: timedelta) -> None:
        self.topic = topic
        self.bucket = bucket

    async def observe(self, items: Sequence[ScoredItem]) -> None:
        pending = [
            await self.topic.send(key=key, value=envelope.SerializeToString())
            for key, envelope in label_activity_events(items, self.bucket)
        ]
        for future in pending:
            await future


# -- the state ------------------------------------------------------------------------------------


@dataclass(slots=True)
class OpenBucket:
    mentions: int = 0
    negative: int = 0
    negative_reach: int = 0
    samples: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class LabelState:
    """The crisis state of one (tenant, label), JSON-safe through :meth:`to_state`."""

    detectors: dict[str, SpikeDetector]
    #: Open buckets by start (epoch microseconds).
    open: dict[int, OpenBucket] = field(default_factory=dict)
    #: Every bucket starting before this is closed (epoch microseconds; None before the first).
    closed_until: int | None = None
    #: The newest mention time seen (epoch microseconds), and when the last event arrived (wall).
    watermark: int | None = None
    last_event_wall: float = 0.0
    #: Partition of the source topic the state is written from (ticks close only their own keys).
    partition: int = 0
    recent_events: list[str] = field(default_factory=list)
    #: Serialised Alerts not yet confirmed in the database and on Kafka.
    outbox: list[str] = field(default_factory=list)
    #: The label may raise an alert (False from an alert until ``calm`` reaches the cooldown).
    armed: bool = True
    calm: int = 0

    @classmethod
    def new(cls, config: SpikeConfig) -> LabelState:
        return cls(detectors={name: SpikeDetector(config) for name, _ in SERIES})

    def to_state(self) -> dict[str, Any]:
        return {
            "detectors": {name: d.to_state() for name, d in self.detectors.items()},
            "open": {
                str(start): [b.mentions, b.negative, b.negative_reach, [list(s) for s in b.samples]]
                for start, b in self.open.items()
            },
            "closed_until": self.closed_until,
            "watermark": self.watermark,
            "last_event_wall": self.last_event_wall,
            "partition": self.partition,
            "recent_events": self.recent_events,
            "outbox": self.outbox,
            "armed": self.armed,
            "calm": self.calm,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], config: SpikeConfig) -> LabelState:
        return cls(
            detectors={
                name: SpikeDetector.from_state(state["detectors"][name], config) for name, _ in SERIES
            },
            open={
                int(start): OpenBucket(m, n, r, [(str(i), int(x)) for i, x in samples])
                for start, (m, n, r, samples) in state["open"].items()
            },
            closed_until=state["closed_until"],
            watermark=state["watermark"],
            last_event_wall=float(state["last_event_wall"]),
            partition=int(state["partition"]),
            recent_events=list(state["recent_events"]),
            outbox=list(state["outbox"]),
            armed=bool(state.get("armed", True)),
            calm=int(state.get("calm", 0)),
        )


# -- the agent ------------------------------------------------------------------------------------


class AlertSink:
    """Where alerts go: the ``alerts`` database table (insert-or-ignore) and the ``alerts`` topic."""

    def __init__(self, engine: AsyncEngine, producer: EventProducer) -> None:
        self.engine = engine
        self.producer = producer

    async def deliver(self, alerts: Sequence[events_pb2.Alert]) -> None:
        if not alerts:
            return
        rows = [
            {
                "tenant": alert.tenant,
                "id": alert.id,
                "label": alert.label,
                "kind": int(alert.kind),
                "severity": int(alert.severity),
                "raised_at": alert.raised_at.ToDatetime(tzinfo=UTC),
                "window_start": alert.window_start.ToDatetime(tzinfo=UTC),
                "window_end": alert.window_end.ToDatetime(tzinfo=UTC),
                "observed": alert.observed,
                "baseline": alert.baseline,
                "z_score": alert.z_score,
                "message": alert.message[:1000],
                "sample_mention_ids": list(alert.sample_mention_ids),
                "alert": alert.SerializeToString(deterministic=True),
            }
            for alert in alerts
        ]
        async with self.engine.begin() as conn:
            await conn.execute(upsert(self.engine, ALERTS, ("tenant", "id"), ()), rows)
        envelopes = []
        for alert in alerts:
            envelope = new_envelope(alert.tenant, alert)
            envelope.event_id = alert.id
            envelope.occurred_at.CopyFrom(alert.raised_at)
            envelopes.append((f"{alert.tenant}:{alert.label}", envelope))  # the key events.proto states
        await self.producer.publish_many(Topic.ALERTS, envelopes)


class CrisisProcessor:
    """Applies label activity and clock ticks to the crisis table (see the module docstring).

    ``states`` is the faust table (any MutableMapping works); ``clock`` returns the wall time.
    """

    def __init__(
        self,
        states: MutableMapping[str, Any],
        sink: AlertSink,
        config: SpikeConfig,
        *,
        grace: timedelta,
        corroboration_z: float = 3.0,
        clock: Any = None,
    ) -> None:
        self.states = states
        self.sink = sink
        self.config = config
        self.grace = grace
        self.corroboration_z = corroboration_z
        self.clock = clock or (lambda: datetime.now(UTC))

    def _load(self, key: str) -> LabelState:
        state = self.states.get(key)
        return LabelState.new(self.config) if state is None else LabelState.from_state(state, self.config)

    async def activity(
        self, tenant: str, event_id: str, activity: events_pb2.LabelActivity, partition: int
    ) -> list[events_pb2.Alert]:
        """Add one batch's deltas, close what the watermark passed, raise and deliver alerts."""
        key = _key(tenant, activity.label)
        state = self._load(key)
        state.partition = partition
        now = self.clock()
        if event_id and event_id in state.recent_events:
            return await self._flush(key, state)  # a redelivery: counted already
        if event_id:
            state.recent_events = [*state.recent_events, event_id][-REMEMBERED_EVENTS:]
        bucket_us = self.config.bucket // timedelta(microseconds=1)
        horizon = _us(now) + FUTURE_SLACK_BUCKETS * bucket_us
        for delta in activity.buckets:
            start = _us(align(delta.bucket_start.ToDatetime(tzinfo=UTC), self.config.bucket))
            if start > horizon:
                continue
            if state.closed_until is not None and start < state.closed_until:
                log.debug("crisis: late mentions for %s in a closed bucket", activity.label)
                continue
            bucket = state.open.setdefault(start, OpenBucket())
            bucket.mentions += delta.mentions
            bucket.negative += delta.negative
            bucket.negative_reach += delta.negative_reach
            bucket.samples = _top([*bucket.samples, *((s.mention_id, s.reach) for s in delta.samples)])
        if activity.HasField("latest"):
            latest = min(_us(activity.latest.ToDatetime(tzinfo=UTC)), horizon)
            state.watermark = latest if state.watermark is None else max(state.watermark, latest)
        state.last_event_wall = now.timestamp()
        if state.watermark is not None:
            self._close(tenant, activity.label, state, state.watermark, now)
        return await self._flush(key, state)

    async def tick(self, partition: int) -> list[events_pb2.Alert]:
        """Close the buckets of this partition's quiet labels that ended ``grace`` ago."""
        now = self.clock()
        raised: list[events_pb2.Alert] = []
        for key, value in list(self.states.items()):
            if value is None or int(value.get("partition", -1)) != partition:
                continue
            state = LabelState.from_state(value, self.config)
            quiet = now.timestamp() - state.last_event_wall >= self.grace.total_seconds()
            due = bool(state.open) and quiet
            if not due and not state.outbox:
                continue
            tenant, _, label = str(key).partition("\x00")
            if due:
                self._close(tenant, label, state, _us(now), now)
            raised += await self._flush(key, state)
        return raised

    def _close(self, tenant: str, label: str, state: LabelState, until_us: int, now: datetime) -> None:
        """Close every open bucket that ended ``grace`` before ``until_us``, oldest first."""
        bucket_us = self.config.bucket // timedelta(microseconds=1)
        grace_us = self.grace // timedelta(microseconds=1)
        for start in sorted(state.open):
            if start + bucket_us + grace_us > until_us:
                break
            bucket = state.open.pop(start)
            if state.closed_until is not None and not state.armed:
                state.calm += max(0, (start - state.closed_until) // bucket_us)  # empty buckets are calm
            state.closed_until = start + bucket_us
            alert = self._observe(tenant, label, state, start=start, bucket=bucket, now=now)
            if alert is not None:
                state.outbox.append(alert.SerializeToString(deterministic=True).hex())
                metrics.ALERTS_RAISED.labels(
                    kind=_alert_kind_label(alert.kind), severity=_severity_label(alert.severity)
                ).inc()

    def _observe(
        self, tenant: str, label: str, state: LabelState, *, start: int, bucket: OpenBucket, now: datetime
    ) -> events_pb2.Alert | None:
        when = _dt(start)
        negative = state.detectors["negative"]
        negative_z = (bucket.negative - negative.baseline) / negative.std()
        values = {
            "negative": (float(bucket.negative), bucket.negative),
            "negative_reach": (float(bucket.negative_reach), bucket.negative),
            "volume": (float(bucket.mentions), bucket.mentions),
        }
        spikes: list[tuple[events_pb2.AlertKind.ValueType, Spike]] = []
        for name, kind in SERIES:
            value, count = values[name]
            spike = state.detectors[name].observe(when, value, count)
            if spike is not None:
                spikes.append((kind, spike))
        # Reach and volume alone do not make a crisis: one big account's post, or a burst of positive
        # buzz, raise an alert only when negative mentions are up too (corroboration).
        spikes = [
            (kind, spike)
            for kind, spike in spikes
            if kind == events_pb2.ALERT_KIND_NEGATIVE_SPIKE or negative_z >= self.corroboration_z
        ]
        if not state.armed:
            state.calm = 0 if spikes or negative_z >= self.config.z_threshold else state.calm + 1
            if state.calm >= self.config.cooldown_buckets:
                state.armed, state.calm = True, 0
            return None
        if not spikes:
            return None
        state.armed, state.calm = False, 0
        kind, spike = spikes[0]
        severity = (
            events_pb2.ALERT_SEVERITY_CRITICAL
            if any(s.severity is Severity.CRITICAL for _, s in spikes)
            else events_pb2.ALERT_SEVERITY_WARNING
        )
        alert_id = uuid.uuid5(
            ALERT_NAMESPACE, f"{tenant}\x00{label}\x00{int(kind)}\x00{spike.bucket_start.isoformat()}"
        ).hex
        alert = events_pb2.Alert(
            id=alert_id,
            tenant=tenant,
            label=label,
            kind=kind,
            severity=severity,
            message=_message(label, kind, spike, self.config.bucket),
            observed=spike.value,
            baseline=spike.baseline,
            z_score=spike.z_score,
            sample_mention_ids=[mention_id for mention_id, _ in bucket.samples],
            window_start=_timestamp(spike.bucket_start),
            window_end=_timestamp(spike.bucket_end),
            raised_at=_timestamp(now),
        )
        log.warning("crisis alert %s: %s", alert_id, alert.message)
        return alert

    async def _flush(self, key: str, state: LabelState) -> list[events_pb2.Alert]:
        """Save the state with its outbox, deliver the outbox, then save it emptied."""
        self.states[key] = state.to_state()
        if not state.outbox:
            return []
        alerts = [events_pb2.Alert.FromString(bytes.fromhex(raw)) for raw in state.outbox]
        await self.sink.deliver(alerts)
        state.outbox = []
        self.states[key] = state.to_state()
        return alerts


def _alert_kind_label(kind: events_pb2.AlertKind.ValueType) -> str:
    """``ALERT_KIND_NEGATIVE_SPIKE`` -> ``negative_spike`` (the ``kind`` label of the alert counter)."""
    return events_pb2.AlertKind.Name(kind).removeprefix("ALERT_KIND_").lower()


def _severity_label(severity: events_pb2.AlertSeverity.ValueType) -> str:
    """``ALERT_SEVERITY_CRITICAL`` -> ``critical``."""
    return events_pb2.AlertSeverity.Name(severity).removeprefix("ALERT_SEVERITY_").lower()


def _message(label: str, kind: events_pb2.AlertKind.ValueType, spike: Spike, bucket: timedelta) -> str:
    what = {
        events_pb2.ALERT_KIND_NEGATIVE_SPIKE: "negative mentions",
        events_pb2.ALERT_KIND_NEGATIVE_REACH_SPIKE: "reach of negative mentions",
        events_pb2.ALERT_KIND_VOLUME_SPIKE: "mentions",
    }[kind]
    minutes = bucket.total_seconds() / 60
    return (
        f"{label}: {spike.value:.0f} {what} in {minutes:g} min from "
        f"{spike.bucket_start:%Y-%m-%d %H:%M} UTC, baseline {spike.baseline:.1f} "
        f"(z = {spike.z_score:.1f})"
    )


def register(app: faust.App, ctx: StreamContext) -> None:
    """The crisis agent, its table, the leader's tick timer and the observer that feeds it."""
    settings = ctx.settings
    config = spike_config(settings)
    topic = ctx.internal_topic(TOPIC)
    states = app.Table(f"{settings.topic_prefix}scoring-crisis", default=None)
    processor = CrisisProcessor(
        states,
        AlertSink(ctx.engine, ctx.producer),
        config,
        grace=timedelta(seconds=settings.alert_grace_seconds),
        corroboration_z=settings.alert_corroboration_z,
    )

    async def crisis_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                envelope = events_pb2.EventEnvelope.FromString(event.value)
            except DecodeError:
                envelope = events_pb2.EventEnvelope()
            payload = envelope.WhichOneof("payload")
            partition = event.message.partition
            # A failure (the database or the broker is gone) turns health NOT_SERVING.
            if payload == "label_activity" and envelope.tenant:
                await ctx.guard(
                    processor.activity(envelope.tenant, envelope.event_id, envelope.label_activity, partition)
                )
            elif payload == "crisis_tick":
                await ctx.guard(processor.tick(partition))
            else:
                log.warning("crisis: ignoring a record that is neither LabelActivity nor CrisisTick")

    app.agent(topic, name=f"{settings.topic_prefix}scoring-crisis-agent")(crisis_agent)

    async def crisis_ticks() -> None:
        partitions = topic.partitions or app.conf.topic_partitions
        tick = events_pb2.EventEnvelope(event_id=uuid.uuid4().hex, type="resonanz.events.v1.CrisisTick")
        tick.crisis_tick.now.GetCurrentTime()
        value = tick.SerializeToString()
        for partition in range(partitions):
            await topic.send(key=b"tick", value=value, partition=partition)

    app.timer(
        settings.alert_tick_seconds, on_leader=True, name=f"{settings.topic_prefix}scoring-crisis-tick"
    )(crisis_ticks)
    ctx.add_observer(LabelActivityObserver(topic, config.bucket))
