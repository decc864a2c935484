"""Conversions between protobuf messages, plugin dataclasses and database rows, in one place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1.content_pb2 import MediaItem, MediaType
from resonanz.common.v1.mention_pb2 import Author, EngagementCounts, ListeningQuery, Mention
from resonanz_sdk.manifest import MediaKind
from resonanz_sdk.network import Media, RawMention

from resonanz_listening.models import MentionRow, QueryRow

_MEDIA_TYPES: dict[MediaKind, MediaType.ValueType] = {
    MediaKind.IMAGE: MediaType.MEDIA_TYPE_IMAGE,
    MediaKind.VIDEO: MediaType.MEDIA_TYPE_VIDEO,
    MediaKind.GIF: MediaType.MEDIA_TYPE_GIF,
}


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands naive ones back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(aware(value))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def query_to_proto(row: QueryRow) -> ListeningQuery:
    return ListeningQuery(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        expression=row.expression,
        languages=list(row.languages),
        networks=list(row.networks),
        label=row.label,
        role=row.role,  # type: ignore[arg-type]  # validated against the enum on create
        enabled=row.enabled,
        created_at=timestamp(row.created_at),
    )


def mention_id(network: str, external_id: str) -> str:
    """The Resonanz id of a post, stable across polls: ``<network>:<external_id>``."""
    return f"{network}:{external_id}"


def _media_item(media: Media) -> MediaItem:
    return MediaItem(
        type=_MEDIA_TYPES.get(media.kind, MediaType.MEDIA_TYPE_UNSPECIFIED),
        uri=media.uri,
        mime_type=media.mime_type,
        size_bytes=media.size_bytes,
        alt_text=media.alt_text,
    )


def raw_to_mention(
    *,
    tenant: str,
    network: str,
    raw: RawMention,
    query_ids: Iterable[str],
    labels: Iterable[str],
    collected_at: datetime,
) -> Mention:
    """Normalise a plugin's :class:`RawMention` into the one ``Mention`` type."""
    return Mention(
        id=mention_id(network, raw.external_id),
        tenant=tenant,
        network=network,
        external_id=raw.external_id,
        url=raw.url,
        author=Author(
            id=raw.author.external_id,
            handle=raw.author.handle,
            display_name=raw.author.display_name,
            followers=raw.author.followers,
            verified=raw.author.verified,
        ),
        text=raw.text,
        language_hint=raw.language,
        published_at=timestamp(raw.published_at),
        in_reply_to_id=raw.in_reply_to or "",
        reshare_of_id=raw.reshare_of or "",
        quote_of_id=raw.quote_of or "",
        hashtags=[h.lstrip("#") for h in raw.hashtags],
        mentioned_handles=[m.lstrip("@") for m in raw.mentions],
        links=list(raw.links),
        media=[_media_item(m) for m in raw.media],
        engagement=EngagementCounts(
            likes=raw.engagement.likes,
            shares=raw.engagement.shares,
            replies=raw.engagement.replies,
            quotes=raw.engagement.quotes,
            views=raw.engagement.views,
        ),
        query_ids=sorted(set(query_ids)),
        labels=sorted(set(labels)),
        collected_at=timestamp(collected_at),
    )


def language_code(hint: str) -> str:
    """The primary language subtag of a hint, lower-case: ``"de-AT"`` -> ``"de"``, ``""`` unknown."""
    return hint.strip().replace("_", "-").split("-", 1)[0].lower()[:16]


def mention_to_row(mention: Mention) -> MentionRow:
    return MentionRow(
        tenant=mention.tenant,
        mention_id=mention.id,
        network=mention.network,
        search_text=mention.text.casefold(),
        collected_at=from_timestamp(mention.collected_at),
        published_at=from_timestamp(mention.published_at),
        language=language_code(mention.language_hint),
        payload=mention.SerializeToString(),
    )


def mention_from_row(row: MentionRow) -> Mention:
    mention = Mention()
    mention.ParseFromString(row.payload)
    return mention
