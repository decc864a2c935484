"""The event envelope: every Kafka record value is one ``EventEnvelope`` with a payload in its oneof.

``new_envelope(tenant, payload)`` stamps an event id (uuid4 hex), the payload's full type name and the
time; ``payload_of(envelope)`` returns the payload message. The oneof field for a payload type is
looked up once from the protobuf descriptor, so adding an event to ``events.proto`` needs no code here.
"""

from __future__ import annotations

import uuid

from google.protobuf.message import Message
from resonanz.events.v1.events_pb2 import EventEnvelope

from resonanz_sdk.errors import ValidationError

__all__ = ["PAYLOAD_FIELDS", "PAYLOAD_TYPES", "EventEnvelope", "check_envelope", "new_envelope", "payload_of"]

#: payload message full name -> name of its field in the ``payload`` oneof of EventEnvelope.
PAYLOAD_FIELDS: dict[str, str] = {
    field.message_type.full_name: field.name
    for field in EventEnvelope.DESCRIPTOR.oneofs_by_name["payload"].fields
    if field.message_type is not None
}


#: oneof field name -> payload message full name (the value ``EventEnvelope.type`` must have).
PAYLOAD_TYPES: dict[str, str] = {field: type_name for type_name, field in PAYLOAD_FIELDS.items()}


def new_envelope(tenant: str, payload: Message) -> EventEnvelope:
    """Wrap ``payload`` in a fresh envelope for ``tenant``; raises ValidationError for non-event types."""
    type_name = payload.DESCRIPTOR.full_name
    field = PAYLOAD_FIELDS.get(type_name)
    if field is None:
        raise ValidationError.single("payload", f"{type_name} is not an event payload")
    if not tenant:
        raise ValidationError.single("tenant", "must not be empty")
    envelope = EventEnvelope(event_id=uuid.uuid4().hex, type=type_name, tenant=tenant)
    envelope.occurred_at.GetCurrentTime()
    getattr(envelope, field).CopyFrom(payload)
    return envelope


def payload_of(envelope: EventEnvelope) -> Message:
    """The payload message of ``envelope``; raises ValidationError when it carries none."""
    field = envelope.WhichOneof("payload")
    if field is None:
        raise ValidationError.single("payload", "the envelope carries no payload")
    payload: Message = getattr(envelope, field)
    return payload


def check_envelope(envelope: EventEnvelope) -> None:
    """Raise ValidationError unless the envelope has an event id, a tenant and a payload of its type.

    Cheap enough for every consumed record: no descriptor lookups, no payload access.
    """
    if not envelope.event_id:
        raise ValidationError.single("event_id", "must not be empty")
    if not envelope.tenant:
        raise ValidationError.single("tenant", "must not be empty")
    field = envelope.WhichOneof("payload")
    if field is None:
        raise ValidationError.single("payload", "the envelope carries no payload")
    expected = PAYLOAD_TYPES[field]
    if envelope.type and envelope.type != expected:
        raise ValidationError.single("type", f"says {envelope.type} but the payload is {expected}")
