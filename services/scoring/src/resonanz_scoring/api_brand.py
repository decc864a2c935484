"""ScoringService handlers for one brand: GetBrandScores, ListScoredMentions, GetBrandTimeline and
GetShareOfVoice (every label of the tenant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.grpc import Validator, tenant_of

from resonanz_scoring.aggregates import BrandAggregate, net_sentiment
from resonanz_scoring.api_common import (
    MAX_PAGE_SIZE,
    MAX_WINDOW,
    ApiDeps,
    Context,
    cursor_of,
    duration_of,
    encode_cursor,
    label_of,
    set_timestamp,
)
from resonanz_scoring.convert import scored_mention_from_row
from resonanz_scoring.queries import brand_aggregate, scored_mentions_page
from resonanz_scoring.queries_timeline import LabelTotals, brand_timeline, label_totals

#: GetBrandScores and GetShareOfVoice: window when unset.
DEFAULT_WINDOW = timedelta(hours=24)
#: GetBrandTimeline: window when unset, the bucket bounds and the most buckets per window.
DEFAULT_TIMELINE_WINDOW = timedelta(days=7)
MIN_BUCKET = timedelta(minutes=1)
MAX_BUCKETS = 1000


def default_bucket(window: timedelta) -> timedelta:
    """1 hour for windows up to 2 days, else 1 day."""
    return timedelta(hours=1) if window <= timedelta(days=2) else timedelta(days=1)


def bucket_floor(seconds_since_epoch: float, bucket: timedelta) -> float:
    """The start (seconds since the epoch) of the bucket containing the instant, buckets aligned to
    the epoch (so hourly buckets start on the hour and daily ones at 00:00 UTC)."""
    size = bucket.total_seconds()
    return (seconds_since_epoch // size) * size


def brand_scores_proto(aggregate: BrandAggregate) -> score_pb2.BrandScores:
    def terms(items: list[tuple[str, int]]) -> list[score_pb2.TermCount]:
        return [score_pb2.TermCount(term=t, count=c) for t, c in items]

    scores = score_pb2.BrandScores(
        tenant=aggregate.tenant,
        label=aggregate.label,
        mention_count=aggregate.mention_count,
        positive_count=aggregate.positive_count,
        neutral_count=aggregate.neutral_count,
        negative_count=aggregate.negative_count,
        net_sentiment=aggregate.net_sentiment,
        total_reach=aggregate.total_reach,
        total_engagement=aggregate.total_engagement,
        total_impressions=aggregate.total_impressions,
        reputation_index=aggregate.reputation_index,
        share_of_voice=aggregate.share_of_voice,
        top_hashtags=terms(aggregate.top_hashtags),
        top_authors=terms(aggregate.top_authors),
        top_links=terms(aggregate.top_links),
        previous_mention_count=aggregate.previous_mention_count,
        mention_count_delta=aggregate.mention_count_delta,
        previous_net_sentiment=aggregate.previous_net_sentiment,
    )
    set_timestamp(scores.window_start, aggregate.window_start)
    set_timestamp(scores.window_end, aggregate.window_end)
    return scores


class BrandHandlers:
    deps: ApiDeps

    async def GetBrandScores(  # noqa: N802 - gRPC method name
        self, request: pb.GetBrandScoresRequest, context: Context
    ) -> pb.GetBrandScoresResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label)
        window = duration_of(v, request.window, request.HasField("window"), "window", default=DEFAULT_WINDOW)
        v.check()
        end = self.deps.clock()
        aggregate = await brand_aggregate(self.deps.engine, tenant, label, end - window, end)
        return pb.GetBrandScoresResponse(scores=brand_scores_proto(aggregate))

    async def ListScoredMentions(  # noqa: N802 - gRPC method name
        self, request: pb.ListScoredMentionsRequest, context: Context
    ) -> pb.ListScoredMentionsResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label)
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        after = cursor_of(v, request.page_token)
        v.check()
        rows = await scored_mentions_page(self.deps.engine, tenant, label, size + 1, after)
        response = pb.ListScoredMentionsResponse()
        for row in rows[:size]:
            item = scored_mention_from_row(row)
            item.score.cascade_size = int(row["cascade_size"])
            item.score.structural_virality = float(row["structural_virality"])
            response.mentions.append(item)
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = encode_cursor(last["occurred_at"], last["mention_id"])
        return response

    async def GetBrandTimeline(  # noqa: N802 - gRPC method name
        self, request: pb.GetBrandTimelineRequest, context: Context
    ) -> pb.GetBrandTimelineResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label)
        window = duration_of(
            v, request.window, request.HasField("window"), "window", default=DEFAULT_TIMELINE_WINDOW
        )
        bucket = duration_of(
            v,
            request.bucket,
            request.HasField("bucket"),
            "bucket",
            default=default_bucket(window),
            minimum=MIN_BUCKET,
            maximum=MAX_WINDOW,
        )
        v.require(
            window / bucket <= MAX_BUCKETS,
            "bucket",
            f"gives {int(window / bucket):,} buckets; at most {MAX_BUCKETS:,} per window",
        )
        v.require(bucket.microseconds == 0, "bucket", "must be a whole number of seconds")
        v.check()
        end = self.deps.clock()
        start = datetime.fromtimestamp(bucket_floor(end.timestamp() - window.total_seconds(), bucket), UTC)
        buckets = await brand_timeline(self.deps.engine, tenant, label, start=start, end=end, bucket=bucket)
        response = pb.GetBrandTimelineResponse(label=label)
        for b in buckets:
            point = response.points.add(
                mention_count=b.sentiments.count,
                positive_count=b.sentiments.positive,
                neutral_count=b.sentiments.neutral,
                negative_count=b.sentiments.negative,
                reach=b.reach,
                engagement=b.engagement,
                reputation_index=b.sentiments.reputation_index,
            )
            set_timestamp(point.bucket_start, b.start)
        return response

    async def GetShareOfVoice(  # noqa: N802 - gRPC method name
        self, request: pb.GetShareOfVoiceRequest, context: Context
    ) -> pb.GetShareOfVoiceResponse:
        tenant = tenant_of(context)
        v = Validator()
        window = duration_of(v, request.window, request.HasField("window"), "window", default=DEFAULT_WINDOW)
        v.check()
        end = self.deps.clock()
        start = end - window
        totals = await label_totals(self.deps.engine, tenant, start, end)
        roles = await self.deps.label_roles(tenant) if self.deps.label_roles is not None else {}
        all_mentions = sum(t.mention_count for t in totals)
        all_reach = sum(t.reach for t in totals)
        response = pb.GetShareOfVoiceResponse()
        set_timestamp(response.window_start, start)
        set_timestamp(response.window_end, end)
        # brand and competitor labels without mentions in the window are listed too, at 0
        seen = {t.label for t in totals}
        totals += [LabelTotals(label, 0, 0, 0, 0) for label in sorted(roles) if label not in seen]
        for t in sorted(totals, key=lambda t: (-t.mention_count, -t.reach, t.label)):
            response.labels.add(
                label=t.label,
                role=roles.get(t.label, mention_pb2.QUERY_ROLE_UNSPECIFIED),
                mention_count=t.mention_count,
                reach=t.reach,
                share_of_voice=t.mention_count / all_mentions if all_mentions else 0.0,
                share_of_reach=t.reach / all_reach if all_reach else 0.0,
                net_sentiment=net_sentiment(t.positive, t.negative, t.mention_count),
            )
        return response
