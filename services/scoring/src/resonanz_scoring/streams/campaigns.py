"""Campaigns and the brand's own posts: what was published, how it does, and which mentions it earned.

Agents (batches of ``publish.*`` and ``engagement.updates`` events, one transaction per batch)
    * ``publish.requests`` (``PublishRequested`` with a campaign): the hashtags and links of the
      post's text become the campaign's terms (``scoring_campaign_terms``; links normalised, UTM
      and click-id parameters dropped, see :func:`normalise_link`), each from the first time a
      request carried it.
    * ``publish.results`` (``PublishResult`` PUBLISHED with an external id): the post becomes an own
      post (``scoring_own_posts``), known as a mention by ``<network>:<external_id>``.
    * ``engagement.updates`` with subject ``OWN_POST``: the own post's latest counts and engagement
      (the network's engagement definition); a measurement not newer than the stored one changes
      nothing, so redelivered or reordered updates are harmless.

Attribution (a :class:`CampaignObserver` on every scored batch, ``scoring_campaign_mentions``)
    A scored mention belongs to a campaign when it replies to, reshares or quotes one of the
    campaign's own posts, or a mention already attributed to the campaign as a reply, reshare or
    quote (so whole threads and reshare chains count), or when it carries one of the campaign's
    hashtags or links and was published at or after the term's first use. A mention matched in
    several ways keeps the strongest relation (reply, reshare, quote, hashtag, link) and counts once
    per campaign (insert-or-ignore on tenant, campaign, mention). A scored mention that *is* an own
    post gives the own post its estimated reach and impressions instead.
    Mentions scored before their own post's result or before a campaign hashtag was known are
    attributed when the result or the hashtag arrives (back-fill from the scored mentions).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import faust
from resonanz.common.v1 import content_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk import metrics
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import Topic, check_envelope
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resonanz_scoring.aggregate_models import (
    CAMPAIGN_MENTIONS,
    CAMPAIGN_TERMS,
    OWN_POSTS,
    RELATIONS,
    upsert,
)
from resonanz_scoring.analytics.engagement import EngagementDefinition, engagement_of
from resonanz_scoring.convert import hashtag_key, occurred_at, utc
from resonanz_scoring.models import LINK_LEN, mention_hashtags, mentions
from resonanz_scoring.streams.app import app_id
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_scoring.streams.records import Record, dead_letter, records_of
from resonanz_scoring.streams.retry import run_with_retries

__all__ = [
    "CampaignObserver",
    "CampaignStore",
    "hashtags_in",
    "links_in",
    "normalise_link",
    "register",
]

log = logging.getLogger(__name__)

_HASHTAG = re.compile(r"(?<![\w&#])#(\w[\w-]*)", re.UNICODE)
_SPACE = re.compile(r"\s")
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
#: Query parameters that only track a click (dropped when links are compared).
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref_src"})


@lru_cache(maxsize=65_536)
def normalise_link(link: str) -> str:
    """A link as campaigns compare it: host (lower case, without ``www.``), path without a trailing
    slash, and the query without ``utm_*`` and click-id parameters, sorted; no scheme, no fragment.

    ``https://www.Example.com/Spring/?utm_source=x&b=2&a=1#top`` -> ``example.com/Spring?a=1&b=2``.
    """
    text = link.strip().rstrip(".,;:!?)]}")
    if not text or _SPACE.search(text):
        return ""
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    host = (parts.hostname or "").lower().removeprefix("www.")
    if "." not in host.strip("."):
        return ""
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMS
    )
    path = parts.path.rstrip("/")
    normal = f"{host}{port}{path}" + (f"?{urlencode(query)}" if query else "")
    return normal[:LINK_LEN]


def hashtags_in(text: str) -> set[str]:
    """The hashtags of a text, lower case, without "#"."""
    return {hashtag_key(tag) for tag in _HASHTAG.findall(text)} - {""}


def links_in(text: str) -> set[str]:
    """The links of a text, normalised."""
    return {normalise_link(link) for link in _LINK.findall(text)} - {""}


@dataclass(frozen=True, slots=True)
class OwnPostEngagement:
    tenant: str
    mention_id: str
    counts: Any  # EngagementCounts message
    measured_at: datetime
    network: str
    #: The own post's identity as the update states it (empty when it does not): an update that
    #: arrives before the post's PublishResult creates the row, the result completes it.
    post_id: str = ""
    account: str = ""
    campaign_id: str = ""
    published_at: datetime | None = None


@dataclass(slots=True)
class _Attribution:
    """One tenant's scored batch as attribution needs it, and what was found so far."""

    info: dict[str, ScoredItem]
    #: parent mention id -> (mention id, relation) of the batch's replies, reshares and quotes
    parents: dict[str, list[tuple[str, str]]]
    tags: dict[str, set[str]]
    links: dict[str, set[str]]
    #: (campaign, mention id) -> strongest relation
    relations: dict[tuple[str, str], str]

    @classmethod
    def of(cls, batch: Sequence[ScoredItem]) -> _Attribution:
        found = cls({}, {}, {}, {}, {})
        for item in batch:
            mention = item.mention
            found.info[mention.id] = item
            for external, relation in (
                (mention.in_reply_to_id, "reply"),
                (mention.reshare_of_id, "reshare"),
                (mention.quote_of_id, "quote"),
            ):
                if external:
                    found.parents.setdefault(f"{mention.network}:{external}", []).append(
                        (mention.id, relation)
                    )
            found.tags[mention.id] = (
                {hashtag_key(t) for t in mention.hashtags} | hashtags_in(mention.text)
            ) - {""}
            found.links[mention.id] = (
                {normalise_link(link) for link in mention.links} | links_in(mention.text)
            ) - {""}
        return found

    def keep(self, campaign: str, mention_id: str, relation: str) -> None:
        known = self.relations.get((campaign, mention_id))
        if known is None or RELATIONS.index(relation) < RELATIONS.index(known):
            self.relations[(campaign, mention_id)] = relation


class CampaignStore:
    """The database side of campaigns: terms, own posts, their engagement and attributed mentions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add_terms(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert (tenant, campaign, kind, term, since); the earliest ``since`` of a term wins."""
        if not rows:
            return
        earliest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for row in rows:
            key = (row["tenant"], row["campaign_id"], row["kind"], row["term"])
            if key not in earliest or row["since"] < earliest[key]["since"]:
                earliest[key] = row
        async with self.engine.begin() as conn:
            table = CAMPAIGN_TERMS
            stored = {
                (t, c, k, term): utc(since)
                for t, c, k, term, since in (
                    await conn.execute(
                        select(
                            table.c.tenant, table.c.campaign_id, table.c.kind, table.c.term, table.c.since
                        ).where(
                            or_(
                                *(
                                    and_(
                                        table.c.tenant == t,
                                        table.c.campaign_id == c,
                                        table.c.kind == k,
                                        table.c.term == term,
                                    )
                                    for t, c, k, term in earliest
                                )
                            )
                        )
                    )
                ).all()
            }
            fresh = [row for key, row in earliest.items() if key not in stored]
            if fresh:
                await conn.execute(
                    upsert(self.engine, table, ("tenant", "campaign_id", "kind", "term"), ()), fresh
                )
            for key, row in earliest.items():
                if key in stored and row["since"] < stored[key]:
                    t, c, k, term = key
                    await conn.execute(
                        update(table)
                        .where(
                            table.c.tenant == t,
                            table.c.campaign_id == c,
                            table.c.kind == k,
                            table.c.term == term,
                        )
                        .values(since=row["since"])
                    )
            await self._backfill_hashtags(conn, [row for row in fresh if row["kind"] == "hashtag"])

    async def add_own_posts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or refresh own posts (identity columns only; engagement is kept)."""
        if not rows:
            return
        unique = {(r["tenant"], r["post_id"], r["network"], r["account"]): r for r in rows}
        async with self.engine.begin() as conn:
            await conn.execute(
                upsert(
                    self.engine,
                    OWN_POSTS,
                    ("tenant", "post_id", "network", "account"),
                    ("external_id", "mention_id", "campaign_id", "published_at"),
                ),
                list(unique.values()),
            )
            await self._backfill_replies(conn, [row for row in unique.values() if row["campaign_id"]])

    async def _backfill_hashtags(self, conn: AsyncConnection, terms: Sequence[dict[str, Any]]) -> None:
        """Mentions scored before a new campaign hashtag was known (but published after its first use)."""
        tags, m = mention_hashtags, mentions
        for term in terms:
            query = (
                select(m.c.mention_id, m.c.network, m.c.occurred_at)
                .select_from(
                    tags.join(m, and_(m.c.tenant == tags.c.tenant, m.c.mention_id == tags.c.mention_id))
                )
                .where(
                    tags.c.tenant == term["tenant"],
                    tags.c.hashtag == term["term"],
                    m.c.occurred_at >= term["since"],
                )
            )
            rows = [
                {
                    "tenant": term["tenant"],
                    "campaign_id": term["campaign_id"],
                    "mention_id": mention_id,
                    "relation": "hashtag",
                    "network": network,
                    "occurred_at": occurred,
                }
                for mention_id, network, occurred in (await conn.execute(query)).all()
            ]
            await self._attribute_rows(conn, rows)

    async def _backfill_replies(self, conn: AsyncConnection, posts: Sequence[dict[str, Any]]) -> None:
        """Replies, reshares and quotes scored before their own post's publish result arrived."""
        m = mentions
        by_tenant: dict[str, dict[str, str]] = {}
        for post in posts:
            by_tenant.setdefault(post["tenant"], {})[post["mention_id"]] = post["campaign_id"]
        for tenant, campaigns in by_tenant.items():
            ids = sorted(campaigns)
            query = select(
                m.c.mention_id, m.c.network, m.c.occurred_at, m.c.in_reply_to, m.c.reshare_of, m.c.quote_of
            ).where(
                m.c.tenant == tenant,
                or_(m.c.in_reply_to.in_(ids), m.c.reshare_of.in_(ids), m.c.quote_of.in_(ids)),
            )
            rows = []
            for mention_id, network, occurred, reply_to, reshare_of, quote_of in (
                await conn.execute(query)
            ).all():
                for parent, relation in ((reply_to, "reply"), (reshare_of, "reshare"), (quote_of, "quote")):
                    if parent in campaigns:
                        rows.append(
                            {
                                "tenant": tenant,
                                "campaign_id": campaigns[parent],
                                "mention_id": mention_id,
                                "relation": relation,
                                "network": network,
                                "occurred_at": occurred,
                            }
                        )
                        break
            await self._attribute_rows(conn, rows)

    async def _attribute_rows(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
        """Insert attributions once (insert-or-ignore); returns how many were new."""
        if not rows:
            return 0
        unique = {(r["tenant"], r["campaign_id"], r["mention_id"]): r for r in rows}
        result = await conn.execute(
            upsert(self.engine, CAMPAIGN_MENTIONS, ("tenant", "campaign_id", "mention_id"), ()).returning(
                CAMPAIGN_MENTIONS.c.mention_id
            ),
            list(unique.values()),
        )
        return len(result.all())

    async def apply_engagement(self, updates: Sequence[OwnPostEngagement], definition_of: Any) -> int:
        """Store the newest counts per own post; returns how many rows changed."""
        newest: dict[tuple[str, str], OwnPostEngagement] = {}
        for item in updates:
            key = (item.tenant, item.mention_id)
            if key not in newest or item.measured_at > newest[key].measured_at:
                newest[key] = item
        changed = 0
        table = OWN_POSTS
        async with self.engine.begin() as conn:
            missing = [
                {
                    "tenant": item.tenant,
                    "post_id": item.post_id,
                    "network": item.network,
                    "account": item.account,
                    "external_id": item.mention_id.partition(":")[2],
                    "mention_id": item.mention_id,
                    "campaign_id": item.campaign_id,
                    "published_at": item.published_at or item.measured_at,
                }
                for item in newest.values()
                if item.post_id
            ]
            if missing:
                keys = ("tenant", "post_id", "network", "account")
                await conn.execute(upsert(self.engine, table, keys, ()), missing)
            for (tenant, mention_id), item in sorted(newest.items()):
                definition: EngagementDefinition = definition_of(item.network)
                counts = item.counts
                result = await conn.execute(
                    update(table)
                    .where(
                        table.c.tenant == tenant,
                        table.c.mention_id == mention_id,
                        or_(table.c.measured_at.is_(None), table.c.measured_at < item.measured_at),
                    )
                    .values(
                        likes=counts.likes,
                        shares=counts.shares,
                        replies=counts.replies,
                        quotes=counts.quotes,
                        views=counts.views,
                        engagement=engagement_of(counts, definition),
                        estimated_impressions=(
                            counts.views if counts.views > 0 else table.c.estimated_impressions
                        ),
                        measured_at=item.measured_at,
                    )
                )
                changed += result.rowcount or 0
        return changed

    async def attribute(self, items: Sequence[ScoredItem]) -> int:
        """Attribute a scored batch to campaigns; returns how many (campaign, mention) rows are new."""
        by_tenant: dict[str, list[ScoredItem]] = {}
        for item in items:
            by_tenant.setdefault(item.tenant, []).append(item)
        added = 0
        async with self.engine.begin() as conn:
            for tenant, batch in by_tenant.items():
                added += await self._attribute_tenant(conn, tenant, batch)
        return added

    async def _attribute_tenant(self, conn: AsyncConnection, tenant: str, batch: Sequence[ScoredItem]) -> int:
        # Most batches of a tenant without campaigns cost this one query.
        own, terms = OWN_POSTS, CAMPAIGN_TERMS
        any_campaign = select(
            or_(
                exists(select(own.c.tenant).where(own.c.tenant == tenant)),
                exists(select(terms.c.tenant).where(terms.c.tenant == tenant)),
            )
        )
        if not (await conn.execute(any_campaign)).scalar():
            return 0
        found = _Attribution.of(batch)
        await self._by_parents(conn, tenant, found)
        await self._by_terms(conn, tenant, found)
        await self._own_posts(conn, tenant, found)
        if not found.relations:
            return 0
        rows = [
            {
                "tenant": tenant,
                "campaign_id": campaign,
                "mention_id": mention_id,
                "relation": relation,
                "network": found.info[mention_id].mention.network,
                "occurred_at": self._at(found.info[mention_id]),
            }
            for (campaign, mention_id), relation in sorted(found.relations.items())
        ]
        return await self._attribute_rows(conn, rows)

    @staticmethod
    async def _by_parents(conn: AsyncConnection, tenant: str, found: _Attribution) -> None:
        """Replies, reshares and quotes of own posts, and of mentions attributed that way."""
        if not found.parents:
            return
        wanted = sorted(found.parents)
        own, attributed = OWN_POSTS, CAMPAIGN_MENTIONS
        pairs = list(
            (
                await conn.execute(
                    select(own.c.mention_id, own.c.campaign_id).where(
                        own.c.tenant == tenant, own.c.mention_id.in_(wanted), own.c.campaign_id != ""
                    )
                )
            ).all()
        )
        pairs += (
            await conn.execute(
                select(attributed.c.mention_id, attributed.c.campaign_id).where(
                    attributed.c.tenant == tenant,
                    attributed.c.mention_id.in_(wanted),
                    attributed.c.relation.in_(("reply", "reshare", "quote")),
                )
            )
        ).all()
        for parent, campaign in pairs:
            for mention_id, relation in found.parents[parent]:
                found.keep(campaign, mention_id, relation)
        # Threads and chains inside the batch: a reply to a reply attributed just now.
        changed = True
        while changed:
            changed = False
            for (campaign, parent), _ in list(found.relations.items()):
                for mention_id, relation in found.parents.get(parent, ()):
                    if (campaign, mention_id) not in found.relations:
                        found.keep(campaign, mention_id, relation)
                        changed = True

    async def _by_terms(self, conn: AsyncConnection, tenant: str, found: _Attribution) -> None:
        """Mentions carrying a campaign hashtag or link, published since the term's first use."""
        all_tags = set().union(*found.tags.values())
        all_links = set().union(*found.links.values())
        terms = CAMPAIGN_TERMS
        conditions = []
        if all_tags:
            conditions.append(and_(terms.c.kind == "hashtag", terms.c.term.in_(sorted(all_tags))))
        if all_links:
            conditions.append(and_(terms.c.kind == "link", terms.c.term.in_(sorted(all_links))))
        if not conditions:
            return
        query = select(terms.c.campaign_id, terms.c.kind, terms.c.term, terms.c.since).where(
            terms.c.tenant == tenant, or_(*conditions)
        )
        for campaign, kind, term, since in (await conn.execute(query)).all():
            pool = found.tags if kind == "hashtag" else found.links
            for mention_id, terms_of in pool.items():
                if term in terms_of and self._at(found.info[mention_id]) >= utc(since):
                    found.keep(campaign, mention_id, kind)

    @staticmethod
    async def _own_posts(conn: AsyncConnection, tenant: str, found: _Attribution) -> None:
        """A scored own post lends its reach (and, without a view count, its impressions) to its own
        post row, and is a post of its campaign, not a mention of it."""
        own = OWN_POSTS
        query = select(own.c.mention_id).where(
            own.c.tenant == tenant, own.c.mention_id.in_(sorted(found.info))
        )
        for mention_id in (await conn.execute(query)).scalars().all():
            score = found.info[mention_id].score
            mine = and_(own.c.tenant == tenant, own.c.mention_id == mention_id)
            await conn.execute(update(own).where(mine).values(estimated_reach=score.estimated_reach))
            await conn.execute(
                update(own)
                .where(mine, own.c.views == 0)
                .values(estimated_impressions=score.estimated_impressions)
            )
            for key in [key for key in found.relations if key[1] == mention_id]:
                del found.relations[key]

    @staticmethod
    def _at(item: ScoredItem) -> datetime:
        return occurred_at(item.mention, item.score.scored_at.ToDatetime(tzinfo=UTC))


class CampaignObserver:
    """Attributes every scored batch to campaigns (see the module docstring)."""

    def __init__(self, store: CampaignStore) -> None:
        self.store = store

    async def observe(self, items: Sequence[ScoredItem]) -> None:
        await self.store.attribute(items)


# -- decoding -------------------------------------------------------------------------------------


def _envelope(record: Record, payload: str) -> events_pb2.EventEnvelope:
    envelope = events_pb2.EventEnvelope.FromString(record.value or b"")
    check_envelope(envelope)
    if envelope.WhichOneof("payload") != payload:
        raise ValidationError.single("payload", f"expected {payload}, got {envelope.type}")
    return envelope


def term_rows(record: Record) -> list[dict[str, Any]]:
    """The campaign term rows of a ``publish.requests`` record (none without a campaign)."""
    envelope = _envelope(record, "publish_requested")
    request = envelope.publish_requested
    if not request.campaign_id:
        return []
    since = (
        envelope.occurred_at.ToDatetime(tzinfo=UTC) if envelope.HasField("occurred_at") else datetime.now(UTC)
    )
    base = {"tenant": envelope.tenant, "campaign_id": request.campaign_id, "since": since}
    return [{**base, "kind": "hashtag", "term": tag} for tag in sorted(hashtags_in(request.text))] + [
        {**base, "kind": "link", "term": link} for link in sorted(links_in(request.text))
    ]


def own_post_row(record: Record) -> dict[str, Any] | None:
    """The own post of a ``publish.results`` record (None unless PUBLISHED with an external id)."""
    envelope = _envelope(record, "publish_result")
    result = envelope.publish_result
    if result.status != content_pb2.TARGET_STATUS_PUBLISHED or not result.external_id:
        return None
    if not (result.post_id and result.network):
        raise ValidationError.single("post_id", "a published result needs a post id and a network")
    published = (
        result.published_at.ToDatetime(tzinfo=UTC)
        if result.HasField("published_at")
        else envelope.occurred_at.ToDatetime(tzinfo=UTC)
    )
    return {
        "tenant": envelope.tenant,
        "post_id": result.post_id,
        "network": result.network,
        "account": result.account,
        "external_id": result.external_id,
        "mention_id": f"{result.network}:{result.external_id}",
        "campaign_id": result.campaign_id,
        "published_at": published,
    }


def own_post_engagement(record: Record) -> OwnPostEngagement | None:
    """The own-post refresh of an ``engagement.updates`` record (None for other subjects)."""
    envelope = _envelope(record, "engagement_updated")
    item = envelope.engagement_updated
    if item.subject != events_pb2.ENGAGEMENT_SUBJECT_OWN_POST:
        return None
    mention_id = item.mention_id or (f"{item.network}:{item.external_id}" if item.external_id else "")
    if not mention_id:
        raise ValidationError.single("mention_id", "must not be empty")
    if not item.HasField("measured_at"):
        raise ValidationError.single("measured_at", "is required")
    return OwnPostEngagement(
        tenant=envelope.tenant,
        mention_id=mention_id,
        counts=item.engagement,
        measured_at=item.measured_at.ToDatetime(tzinfo=UTC),
        network=item.network or mention_id.partition(":")[0],
        post_id=item.post_id,
        account=item.account,
        campaign_id=item.campaign_id,
        published_at=item.published_at.ToDatetime(tzinfo=UTC) if item.HasField("published_at") else None,
    )


# -- wiring ---------------------------------------------------------------------------------------


class CampaignPipelines:
    """The three batch handlers, with the sdk's failure rules (retry, then dead-letter)."""

    def __init__(self, ctx: StreamContext, store: CampaignStore) -> None:
        self.ctx = ctx
        self.store = store
        self.group = app_id(ctx.settings)

    async def _run(self, topic: str, records: Sequence[Record], decode: Any, handle: Any) -> None:
        decoded: list[tuple[Record, Any]] = []
        for record in records:
            try:
                value = decode(record)
            except Exception as exc:  # poison
                await dead_letter(self.ctx.producer, record, exc, attempts=0, group=self.group)
                continue
            if value:
                decoded.append((record, value))
        attempts = self.ctx.settings.scoring_max_attempts

        async def run(batch: Sequence[tuple[Record, Any]]) -> None:
            await handle([value for _, value in batch])

        failed = await run_with_retries(decoded, run, max_attempts=attempts, what=f"{topic} batch")
        for (record, _), error in failed:
            await dead_letter(self.ctx.producer, record, error, attempts=attempts, group=self.group)
        metrics.EVENTS_CONSUMED.labels(topic=topic, group=self.group, outcome="ok").inc(len(records))

    async def requests(self, records: Sequence[Record]) -> None:
        async def handle(values: Sequence[list[dict[str, Any]]]) -> None:
            await self.store.add_terms([row for rows in values for row in rows])

        await self._run(Topic.PUBLISH_REQUESTS, records, term_rows, handle)

    async def results(self, records: Sequence[Record]) -> None:
        await self._run(Topic.PUBLISH_RESULTS, records, own_post_row, self.store.add_own_posts)

    async def engagement(self, records: Sequence[Record]) -> None:
        async def handle(values: Sequence[OwnPostEngagement]) -> None:
            await self.store.apply_engagement(values, self.ctx.scorer.metrics.definition)

        await self._run(Topic.ENGAGEMENT_UPDATES, records, own_post_engagement, handle)


def _batches(ctx: StreamContext, work: Any) -> Any:
    settings = ctx.settings
    prefix = settings.topic_prefix
    size, within = settings.scoring_batch_size, settings.scoring_batch_seconds

    async def agent(stream: faust.StreamT[Any]) -> None:
        assert isinstance(stream, faust.Stream)  # noack_take is not on the StreamT protocol
        async for events in stream.noack_take(size, within=within):
            await ctx.guard(work(records_of(events, prefix)))
            for event in events:
                await stream.ack(event)

    return agent


def register(app: faust.App, ctx: StreamContext) -> None:
    """The publish-requests, publish-results and own-post engagement agents and the attribution
    observer."""
    store = CampaignStore(ctx.engine)
    pipelines = CampaignPipelines(ctx, store)
    app.agent(ctx.topic(Topic.PUBLISH_REQUESTS), name="scoring-campaign-terms")(
        _batches(ctx, pipelines.requests)
    )
    app.agent(ctx.topic(Topic.PUBLISH_RESULTS), name="scoring-own-posts")(_batches(ctx, pipelines.results))
    app.agent(ctx.topic(Topic.ENGAGEMENT_UPDATES), name="scoring-own-post-engagement")(
        _batches(ctx, pipelines.engagement)
    )
    ctx.add_observer(CampaignObserver(store))


def campaign_terms_of(texts: Iterable[str]) -> tuple[set[str], set[str]]:
    """The hashtags and normalised links of texts (tools and tests)."""
    tags: set[str] = set()
    links: set[str] = set()
    for text in texts:
        tags |= hashtags_in(text)
        links |= links_in(text)
    return tags, links
