"""Conversions between protobuf messages, database rows and the sdk's network dataclasses.

The only module that knows both shapes; everything else works with one or the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1.content_pb2 import (
    Approval,
    MediaItem,
    MediaType,
    NetworkVariant,
    Post,
    PostTarget,
    ScheduleMode,
    UtmParameters,
)
from resonanz.events.v1.events_pb2 import PublishRequested, PublishResult
from resonanz_sdk.manifest import MediaKind
from resonanz_sdk.network import Media

from resonanz_publishing.models import ApprovalRow, PostRow, TargetRow
from resonanz_publishing.utm import apply_utm, effective_utm, utm_from_json

_MEDIA_KIND: dict[int, MediaKind] = {
    MediaType.MEDIA_TYPE_IMAGE: MediaKind.IMAGE,
    MediaType.MEDIA_TYPE_VIDEO: MediaKind.VIDEO,
    MediaType.MEDIA_TYPE_GIF: MediaKind.GIF,
}


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite gives naive datetimes back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def to_timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(utc(value))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def media_kind(media_type: int) -> MediaKind | None:
    """The sdk's media kind of a protobuf ``MediaType``; ``None`` for UNSPECIFIED or unknown values."""
    return _MEDIA_KIND.get(media_type)


def messages_to_json(messages: Iterable[MediaItem | NetworkVariant]) -> list[dict[str, Any]]:
    return [json_format.MessageToDict(m, preserving_proto_field_name=True) for m in messages]


def media_from_json(values: Iterable[dict[str, Any]]) -> list[MediaItem]:
    return [json_format.ParseDict(v, MediaItem()) for v in values]


def variants_from_json(values: Iterable[dict[str, Any]]) -> list[NetworkVariant]:
    return [json_format.ParseDict(v, NetworkVariant()) for v in values]


def target_to_proto(row: TargetRow) -> PostTarget:
    return PostTarget(
        network=row.network,
        account=row.account,
        status=row.status,  # type: ignore[arg-type]
        external_id=row.external_id,
        url=row.url,
        error=row.error,
        attempts=row.attempts,
        published_at=to_timestamp(row.published_at),
        scheduled_at=to_timestamp(row.scheduled_at),
        next_attempt_at=to_timestamp(row.next_attempt_at),
        deleted_at=to_timestamp(row.deleted_at),
    )


def approval_to_proto(row: ApprovalRow) -> Approval:
    return Approval(
        step=row.step, approver=row.approver, approved_at=to_timestamp(row.approved_at), note=row.note
    )


def post_to_proto(row: PostRow, approvals: Sequence[ApprovalRow] = ()) -> Post:
    """The API's view of a post; ``approvals`` are those of the current review round (step order)."""
    return Post(
        id=row.id,
        tenant=row.tenant,
        text=row.text,
        media=media_from_json(row.media),
        variants=variants_from_json(row.variants),
        targets=[target_to_proto(t) for t in sorted(row.targets, key=lambda t: t.position)],
        campaign_id=row.campaign_id,
        labels=list(row.labels),
        status=row.status,  # type: ignore[arg-type]
        scheduled_at=to_timestamp(row.scheduled_at),
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        idempotency_key=row.idempotency_key or "",
        utm=utm_from_json(row.utm),
        created_by=row.created_by,
        approvals=[approval_to_proto(a) for a in sorted(approvals, key=lambda a: (a.step, a.approved_at))],
        approval_steps=row.approval_steps,
        in_reply_to=row.in_reply_to,
        schedule_mode=_SCHEDULE_MODES.get(row.schedule_mode, ScheduleMode.SCHEDULE_MODE_UNSPECIFIED),
        time_zone=row.time_zone,
    )


#: ``PostRow.schedule_mode`` values (see scheduling.py) as the API's enum.
_SCHEDULE_MODES: dict[str, ScheduleMode.ValueType] = {
    "now": ScheduleMode.SCHEDULE_MODE_NOW,
    "at": ScheduleMode.SCHEDULE_MODE_AT,
    "queue": ScheduleMode.SCHEDULE_MODE_NEXT_FREE_SLOT,
}


def content_for_network(
    text: str, media: Sequence[MediaItem], variants: Sequence[NetworkVariant], network: str
) -> tuple[str, list[MediaItem], int | None]:
    """Text and media that go to ``network``: the variant's where one exists for it.

    Returns the index of the variant used (``None`` for the defaults). A variant with empty text keeps
    the default text; a variant without media keeps the default media.
    """
    for index, variant in enumerate(variants):
        if variant.network == network:
            return (variant.text or text, list(variant.media or media), index)
    return (text, list(media), None)


def text_for_network(
    text: str, post_utm: UtmParameters | None, campaign_utm: UtmParameters | None, network: str
) -> str:
    """The text as it goes to ``network``: UTM parameters (post's, else campaign's) added to its links."""
    return apply_utm(text, effective_utm(post_utm, campaign_utm, network))


def publish_requested(
    post: PostRow, target: TargetRow, campaign_utm: UtmParameters | None = None
) -> PublishRequested:
    """The ``publish.requests`` payload for one target: variant applied, UTM parameters added.

    :param campaign_utm: the UTM defaults of the post's campaign (``campaigns.utm_defaults``); ``None``
        when the post has no campaign.
    """
    text, media, _ = content_for_network(
        post.text, media_from_json(post.media), variants_from_json(post.variants), target.network
    )
    text = text_for_network(text, utm_from_json(post.utm), campaign_utm, target.network)
    return PublishRequested(
        post_id=post.id,
        network=target.network,
        account=target.account,
        text=text,
        media=media,
        idempotency_key=idempotency_key(post.id, target.network, target.account),
        campaign_id=post.campaign_id,
        labels=list(post.labels),
        in_reply_to=post.in_reply_to,
    )


def publish_result(post: PostRow, target: TargetRow) -> PublishResult:
    """The ``publish.results`` payload for one target's current state."""
    return PublishResult(
        post_id=post.id,
        network=target.network,
        account=target.account,
        status=target.status,  # type: ignore[arg-type]
        external_id=target.external_id,
        url=target.url,
        error=target.error,
        campaign_id=post.campaign_id,
        labels=list(post.labels),
        published_at=to_timestamp(target.published_at),
        attempts=target.attempts,
    )


def idempotency_key(post_id: str, network: str, account: str) -> str:
    """Stable for one (post, target) across every retry and redelivery."""
    return f"{post_id}:{network}:{account}"


def request_key(network: str, account: str) -> str:
    """Kafka key of a publish request: one account's requests stay in order on one partition."""
    return f"{network}:{account}"


def media_to_sdk(items: Iterable[MediaItem]) -> tuple[Media, ...]:
    """Protobuf media as the network contract's dataclasses (items of unknown kind are refused earlier)."""
    out: list[Media] = []
    for item in items:
        kind = media_kind(item.type)
        if kind is None:
            raise ValueError(f"media item {item.id!r} has no type")
        out.append(
            Media(
                kind=kind,
                uri=item.uri,
                mime_type=item.mime_type,
                size_bytes=item.size_bytes,
                alt_text=item.alt_text,
            )
        )
    return tuple(out)
