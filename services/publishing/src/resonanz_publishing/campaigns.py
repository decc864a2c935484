"""Campaigns: named groups of posts with shared hashtags, links and UTM defaults.

Every query filters by tenant; another tenant's campaign is not found. Creating is idempotent on the
request's ``idempotency_key`` per tenant (the unique constraint decides when creates race).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1.content_pb2 import Campaign, UtmParameters
from resonanz.publishing.v1 import workspace_service_pb2 as wpb
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import Validator
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.audit import record
from resonanz_publishing.convert import from_timestamp, now_utc, to_timestamp, utc
from resonanz_publishing.models import CampaignRow
from resonanz_publishing.utm import has_any, utm_from_json

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_HASHTAGS = 30
MAX_HASHTAG_LENGTH = 100
MAX_LINKS = 20
MAX_LINK_LENGTH = 2000
MAX_UTM_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_CAMPAIGN_ID_LENGTH = 64
UTM_FIELDS = ("source", "medium", "campaign", "term", "content")

_HASHTAG = re.compile(r"#?\w+")
_SLUG_DROP = re.compile(r"[^a-z0-9_-]")
_DASHES = re.compile(r"-{2,}")


@dataclass(frozen=True)
class CampaignCursor:
    """Where a page of campaigns (newest first) ends: the last campaign's creation time and id."""

    created_at: datetime
    campaign_id: str

    def encode(self) -> str:
        return f"{utc(self.created_at).isoformat()}|{self.campaign_id}"

    @classmethod
    def decode(cls, raw: str) -> CampaignCursor:
        """Raises ``ValueError`` on anything that is not a cursor written by :meth:`encode`."""
        created, sep, campaign_id = raw.partition("|")
        if not sep or not campaign_id:
            raise ValueError("not a page cursor")
        return cls(utc(datetime.fromisoformat(created)), campaign_id)


def normalize_hashtag(tag: str) -> str:
    """``#Launch`` and ``Launch`` are both stored as ``Launch``."""
    return tag.removeprefix("#")


def validate_create_campaign(request: wpb.CreateCampaignRequest) -> None:
    """Raise ValidationError naming every wrong field (``name``, ``hashtags[2]``, ``utm.source`` …)."""
    v = Validator()
    if v.non_empty(request.name, "name"):
        v.max_length(request.name, MAX_NAME_LENGTH, "name")
    v.max_length(request.description, MAX_DESCRIPTION_LENGTH, "description")
    v.max_length(request.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH, "idempotency_key")
    v.require(
        len(request.hashtags) <= MAX_HASHTAGS,
        "hashtags",
        f"at most {MAX_HASHTAGS} hashtags (got {len(request.hashtags)})",
    )
    for i, tag in enumerate(request.hashtags):
        if v.require(
            bool(_HASHTAG.fullmatch(tag)),
            f"hashtags[{i}]",
            "must be one word of letters, digits or '_', optionally starting with '#'",
        ):
            v.max_length(normalize_hashtag(tag), MAX_HASHTAG_LENGTH, f"hashtags[{i}]")
    v.require(
        len(request.links) <= MAX_LINKS, "links", f"at most {MAX_LINKS} links (got {len(request.links)})"
    )
    for i, link in enumerate(request.links):
        if v.max_length(link, MAX_LINK_LENGTH, f"links[{i}]"):
            v.require(_is_web_url(link), f"links[{i}]", "must be an http:// or https:// URL")
    starts = _checked_time(v, request.starts_at, "starts_at") if request.HasField("starts_at") else None
    ends = _checked_time(v, request.ends_at, "ends_at") if request.HasField("ends_at") else None
    if starts is not None and ends is not None:
        v.require(ends > starts, "ends_at", "must be after starts_at")
    for name in UTM_FIELDS:
        v.max_length(getattr(request.utm, name), MAX_UTM_LENGTH, f"utm.{name}")
    v.check()


def _checked_time(v: Validator, ts: Timestamp, field: str) -> datetime | None:
    try:
        return from_timestamp(ts)
    except (ValueError, OverflowError):
        v.add(field, "is not a valid timestamp")
        return None


def _is_web_url(link: str) -> bool:
    if not link or any(c.isspace() for c in link):
        return False
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def slug(name: str) -> str:
    """``Sommer-Sale 2025!`` -> ``sommer-sale-2025``: lower case, spaces to '-', only [a-z0-9-_].

    Accented letters lose their accents (``ü`` -> ``u``, ``ß`` -> ``ss``) rather than vanishing.
    """
    folded = unicodedata.normalize("NFKD", name.casefold())
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    dashed = "-".join(ascii_only.split())
    return _DASHES.sub("-", _SLUG_DROP.sub("", dashed)).strip("-")


def utm_defaults(row: CampaignRow) -> UtmParameters:
    """The campaign's UTM parameters, ``campaign`` defaulting to the slug of its name (or its id)."""
    utm = _utm_from_json(row.utm)
    if not utm.campaign:
        utm.campaign = slug(row.name) or row.id
    return utm


def _utm_from_json(value: dict[str, Any]) -> UtmParameters:
    return json_format.ParseDict(value or {}, UtmParameters(), ignore_unknown_fields=True)


def campaign_to_proto(row: CampaignRow) -> Campaign:
    return Campaign(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        hashtags=list(row.hashtags),
        links=list(row.links),
        starts_at=to_timestamp(row.starts_at),
        ends_at=to_timestamp(row.ends_at),
        description=row.description,
        utm=_utm_from_json(row.utm),
        created_at=to_timestamp(row.created_at),
    )


async def find_in(session: AsyncSession, tenant: str, campaign_id: str) -> CampaignRow | None:
    """The tenant's campaign ``campaign_id`` read in the caller's session, or ``None``."""
    stmt = select(CampaignRow).where(CampaignRow.tenant == tenant, CampaignRow.id == campaign_id)
    row: CampaignRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


class CampaignStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def create(
        self, tenant: str, request: wpb.CreateCampaignRequest, actor: str
    ) -> tuple[CampaignRow, bool]:
        """Validate and store a campaign; audit ``campaign.created``. Returns it and whether it is new.

        With an ``idempotency_key`` the tenant used before, the earlier campaign is returned instead
        (also when two creates race: the loser's insert hits the unique constraint).
        """
        validate_create_campaign(request)
        key = request.idempotency_key or None
        if key is not None:
            existing = await self._by_idempotency_key(tenant, key)
            if existing is not None:
                return existing, False
        hashtags = list(dict.fromkeys(normalize_hashtag(t) for t in request.hashtags))
        row = CampaignRow(
            id=uuid.uuid4().hex,
            tenant=tenant,
            name=request.name.strip(),
            description=request.description,
            hashtags=hashtags,
            links=list(request.links),
            starts_at=from_timestamp(request.starts_at) if request.HasField("starts_at") else None,
            ends_at=from_timestamp(request.ends_at) if request.HasField("ends_at") else None,
            utm=json_format.MessageToDict(request.utm, preserving_proto_field_name=True),
            idempotency_key=key,
            created_at=now_utc(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
                # Flush first so that a lost race fails before the audit row is written.
                await session.flush()
                record(
                    session,
                    tenant=tenant,
                    action="campaign.created",
                    actor=actor,
                    detail=f"campaign {row.id} {row.name!r}",
                )
        except IntegrityError:
            if key is None:
                raise
            existing = await self._by_idempotency_key(tenant, key)
            if existing is None:
                raise
            return existing, False
        return row, True

    async def _by_idempotency_key(self, tenant: str, key: str) -> CampaignRow | None:
        async with self._sessions() as session:
            stmt = select(CampaignRow).where(CampaignRow.tenant == tenant, CampaignRow.idempotency_key == key)
            row: CampaignRow | None = (await session.execute(stmt)).scalar_one_or_none()
            return row

    async def find(self, tenant: str, campaign_id: str) -> CampaignRow | None:
        async with self._sessions() as session:
            return await find_in(session, tenant, campaign_id)

    async def find_in(self, session: AsyncSession, tenant: str, campaign_id: str) -> CampaignRow | None:
        """:func:`find_in` as a method, for callers holding the store."""
        return await find_in(session, tenant, campaign_id)

    async def get(self, tenant: str, campaign_id: str) -> CampaignRow:
        row = await self.find(tenant, campaign_id)
        if row is None:
            raise NotFoundError(f"campaign {campaign_id!r} not found")
        return row

    async def list_campaigns(
        self, tenant: str, *, limit: int, after: CampaignCursor | None = None
    ) -> tuple[list[CampaignRow], CampaignCursor | None]:
        """One page of the tenant's campaigns, newest first, and the cursor of the next page (if any)."""
        stmt = select(CampaignRow).where(CampaignRow.tenant == tenant)
        if after is not None:
            stmt = stmt.where(
                or_(
                    CampaignRow.created_at < after.created_at,
                    and_(CampaignRow.created_at == after.created_at, CampaignRow.id < after.campaign_id),
                )
            )
        stmt = stmt.order_by(CampaignRow.created_at.desc(), CampaignRow.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            return rows, CampaignCursor(utc(last.created_at), last.id)
        return rows, None


def campaign_utm(row: CampaignRow | None) -> UtmParameters | None:
    """The UTM parameters a campaign adds to its posts' links, or ``None`` when it sets none.

    A campaign without any UTM field adds no parameters (``utm_defaults`` alone would invent a
    campaign name for every campaign post). The dispatcher and the post workflow both use this.
    """
    if row is None or not has_any(utm_from_json(row.utm)):
        return None
    return utm_defaults(row)
