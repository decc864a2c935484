"""Envelopes: stamping, payload placement by descriptor, validation of what comes off the wire."""

from __future__ import annotations

import time
import uuid

import pytest
from resonanz.common.v1.mention_pb2 import Mention
from resonanz.events.v1.events_pb2 import (
    Alert,
    CascadePosts,
    CrisisTick,
    EngagementUpdated,
    EventEnvelope,
    LabelActivity,
    MentionCollected,
    MentionScored,
    PublishRequested,
    PublishResult,
)
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import Topic, check_envelope, dlq_name, new_envelope, payload_of, topic_name
from resonanz_sdk.eventbus.envelope import PAYLOAD_FIELDS

#: One example of every payload the envelope carries, with its oneof field.
EXAMPLES = [
    (PublishRequested(post_id="p1", network="simulated"), "publish_requested"),
    (PublishResult(post_id="p1"), "publish_result"),
    (MentionCollected(mention=Mention(id="m1")), "mention_collected"),
    (MentionScored(mention=Mention(id="m1")), "mention_scored"),
    (EngagementUpdated(network="simulated", external_id="x"), "engagement_updated"),
    (Alert(id="a1", label="brand"), "alert"),
    # The scoring app's internal events.
    (CascadePosts(), "cascade_posts"),
    (LabelActivity(), "label_activity"),
    (CrisisTick(), "crisis_tick"),
]


@pytest.mark.parametrize(("payload", "field"), EXAMPLES)
def test_new_envelope_places_every_payload_in_its_oneof(payload: object, field: str) -> None:
    before = time.time()
    envelope = new_envelope("acme", payload)  # type: ignore[arg-type]
    assert envelope.WhichOneof("payload") == field
    assert envelope.type == payload.DESCRIPTOR.full_name  # type: ignore[attr-defined]
    assert envelope.tenant == "acme"
    assert uuid.UUID(hex=envelope.event_id).version == 4
    assert before - 1 <= envelope.occurred_at.ToMicroseconds() / 1e6 <= time.time() + 1
    assert payload_of(envelope) == payload
    check_envelope(envelope)
    # Survives the wire.
    assert EventEnvelope.FromString(envelope.SerializeToString()) == envelope


def test_every_oneof_member_is_known() -> None:
    oneof = {field.name for field in EventEnvelope.DESCRIPTOR.oneofs_by_name["payload"].fields}
    assert set(PAYLOAD_FIELDS.values()) == oneof == {field for _, field in EXAMPLES}


def test_event_ids_are_unique() -> None:
    ids = {new_envelope("acme", Alert(id=str(n))).event_id for n in range(1000)}
    assert len(ids) == 1000


def test_non_event_payload_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        new_envelope("acme", Mention(id="m1"))
    assert info.value.violations[0].field == "payload"


def test_empty_tenant_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        new_envelope("", Alert(id="a"))
    assert info.value.violations[0].field == "tenant"


def test_payload_of_empty_envelope_raises() -> None:
    with pytest.raises(ValidationError, match="no payload"):
        payload_of(EventEnvelope(event_id="e", tenant="acme"))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.ClearField("event_id"), "event_id"),
        (lambda e: e.ClearField("tenant"), "tenant"),
        (lambda e: e.ClearField("alert"), "payload"),
        (lambda e: setattr(e, "type", "resonanz.events.v1.PublishResult"), "type"),
    ],
)
def test_check_envelope_names_the_broken_field(mutate: object, field: str) -> None:
    envelope = new_envelope("acme", Alert(id="a"))
    mutate(envelope)  # type: ignore[operator]
    with pytest.raises(ValidationError) as info:
        check_envelope(envelope)
    assert info.value.violations[0].field == field


def test_topic_names() -> None:
    assert [str(t) for t in Topic] == [
        "publish.requests",
        "publish.results",
        "mentions.raw",
        "mentions.scored",
        "engagement.updates",
        "alerts",
    ]
    assert topic_name(Topic.ALERTS) == "alerts"
    assert topic_name(Topic.MENTIONS_RAW, "t1.") == "t1.mentions.raw"
    assert dlq_name(topic_name(Topic.MENTIONS_RAW, "t1.")) == "t1.mentions.raw.dlq"
