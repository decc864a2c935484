"""In-process double of the ScoringService RPCs beyond brand scores and scored mentions, for the CLI
tests: timeline, share of voice, top authors, cascades, alerts (list and stream), campaign reports
and draft advice.

:class:`ScoringInsightsDouble` is a mixin of ``cli_doubles.ScoringDouble``: it speaks the real protos
inside the sdk's real GrpcServer and answers like the real service for what the CLI relies on
(validation naming fields, NOT_FOUND for other tenants' ids, newest-first alerts with page tokens,
StreamAlerts replaying after ``since``). It holds canned answers per tenant that tests fill in, and
records every request with its tenant. The real service is tested in tests/services/scoring/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc.aio
import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
from google.protobuf.message import Message
from resonanz.common.v1 import score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_sdk.errors import FieldViolation, NotFoundError, ValidationError
from resonanz_sdk.grpc import tenant_of

Context = grpc.aio.ServicerContext[Any, Any]
#: What the double's networks allow in ScoreDraft: name -> max length.
DRAFT_NETWORKS = {"simulated": 280, "longnet": 3000}


def _require_label(label: str, field_name: str = "label") -> None:
    if not label.strip():
        raise ValidationError([FieldViolation(field_name, "must not be empty")])


@dataclass
class ScoringInsightsDouble:
    """Canned scoring answers per tenant; ``calls`` records (method, tenant, request)."""

    calls: list[tuple[str, str, Message]] = field(default_factory=list)
    timelines: dict[str, list[scoring_pb2.TimelinePoint]] = field(default_factory=dict)
    shares: list[scoring_pb2.LabelShare] = field(default_factory=list)
    top_authors: dict[str, list[scoring_pb2.AuthorRank]] = field(default_factory=dict)
    #: (tenant, cascade); GetCascade finds a cascade by its root or one of ``cascade_members``.
    cascade_rows: list[tuple[str, scoring_pb2.Cascade]] = field(default_factory=list)
    cascade_members: dict[str, str] = field(default_factory=dict)
    #: (tenant, alert), in the order they were raised.
    alert_rows: list[tuple[str, events_pb2.Alert]] = field(default_factory=list)
    #: Alerts StreamAlerts sends after the replay, as if raised live; then the stream ends.
    live_alerts: list[events_pb2.Alert] = field(default_factory=list)
    campaigns: dict[tuple[str, str], scoring_pb2.CampaignReport] = field(default_factory=dict)

    def _record(self, method: str, request: Message, context: Context) -> str:
        tenant = tenant_of(context)
        self.calls.append((method, tenant, request))
        return tenant

    def requests(self, method: str) -> list[Any]:
        return [request for name, _, request in self.calls if name == method]

    async def GetBrandTimeline(  # noqa: N802
        self, request: scoring_pb2.GetBrandTimelineRequest, context: Context
    ) -> scoring_pb2.GetBrandTimelineResponse:
        self._record("GetBrandTimeline", request, context)
        _require_label(request.label)
        return scoring_pb2.GetBrandTimelineResponse(
            label=request.label, points=self.timelines.get(request.label, [])
        )

    async def GetShareOfVoice(  # noqa: N802
        self, request: scoring_pb2.GetShareOfVoiceRequest, context: Context
    ) -> scoring_pb2.GetShareOfVoiceResponse:
        self._record("GetShareOfVoice", request, context)
        return scoring_pb2.GetShareOfVoiceResponse(labels=self.shares)

    async def ListTopAuthors(  # noqa: N802
        self, request: scoring_pb2.ListTopAuthorsRequest, context: Context
    ) -> scoring_pb2.ListTopAuthorsResponse:
        self._record("ListTopAuthors", request, context)
        _require_label(request.label)
        if request.limit > 200:
            raise ValidationError([FieldViolation("limit", "must be at most 200")])
        authors = self.top_authors.get(request.label, [])[: request.limit or 20]
        return scoring_pb2.ListTopAuthorsResponse(label=request.label, authors=authors)

    async def GetCascade(  # noqa: N802
        self, request: scoring_pb2.GetCascadeRequest, context: Context
    ) -> scoring_pb2.GetCascadeResponse:
        tenant = self._record("GetCascade", request, context)
        if ":" not in request.mention_id:
            raise ValidationError(
                [FieldViolation("mention_id", "must be a mention id '<network>:<external_id>'")]
            )
        root = self.cascade_members.get(request.mention_id, request.mention_id)
        for owner, cascade in self.cascade_rows:
            if owner == tenant and cascade.root_mention_id == root:
                return scoring_pb2.GetCascadeResponse(cascade=cascade)
        raise NotFoundError(f"no scored mention {request.mention_id!r}")

    async def ListCascades(  # noqa: N802
        self, request: scoring_pb2.ListCascadesRequest, context: Context
    ) -> scoring_pb2.ListCascadesResponse:
        tenant = self._record("ListCascades", request, context)
        _require_label(request.label)
        key = {
            scoring_pb2.CASCADE_ORDER_STRUCTURAL_VIRALITY: lambda c: c.structural_virality,
            scoring_pb2.CASCADE_ORDER_GROWTH_RATE: lambda c: c.growth_rate_per_hour,
        }.get(request.order, lambda c: float(c.size))
        mine = [c for owner, c in self.cascade_rows if owner == tenant and request.label in c.labels]
        mine.sort(key=key, reverse=True)
        return scoring_pb2.ListCascadesResponse(cascades=mine[: request.limit or 20])

    async def ListAlerts(  # noqa: N802
        self, request: scoring_pb2.ListAlertsRequest, context: Context
    ) -> scoring_pb2.ListAlertsResponse:
        tenant = self._record("ListAlerts", request, context)
        if request.page_size < 0:
            raise ValidationError([FieldViolation("page_size", "must not be negative")])
        mine = [
            a for owner, a in reversed(self.alert_rows) if owner == tenant and request.label in ("", a.label)
        ]
        start = int(request.page_token or "0")
        end = start + (request.page_size or 50)
        return scoring_pb2.ListAlertsResponse(
            alerts=mine[start:end], next_page_token=str(end) if end < len(mine) else ""
        )

    async def StreamAlerts(  # noqa: N802
        self, request: scoring_pb2.StreamAlertsRequest, context: Context
    ) -> AsyncIterator[scoring_pb2.StreamAlertsResponse]:
        tenant = self._record("StreamAlerts", request, context)
        labels = set(request.labels)
        if request.HasField("since"):
            since = request.since.ToDatetime()
            for owner, alert in self.alert_rows:
                mine = owner == tenant and (not labels or alert.label in labels)
                if mine and alert.raised_at.ToDatetime() > since:
                    yield scoring_pb2.StreamAlertsResponse(alert=alert)
        for alert in self.live_alerts:
            if not labels or alert.label in labels:
                yield scoring_pb2.StreamAlertsResponse(alert=alert)

    async def GetCampaignReport(  # noqa: N802
        self, request: scoring_pb2.GetCampaignReportRequest, context: Context
    ) -> scoring_pb2.GetCampaignReportResponse:
        tenant = self._record("GetCampaignReport", request, context)
        if not request.campaign_id.strip():
            raise ValidationError([FieldViolation("campaign_id", "must not be empty")])
        report = self.campaigns.get((tenant, request.campaign_id))
        if report is None:
            raise NotFoundError(f"no campaign {request.campaign_id!r}")
        return scoring_pb2.GetCampaignReportResponse(report=report)

    async def ScoreDraft(  # noqa: N802
        self, request: scoring_pb2.ScoreDraftRequest, context: Context
    ) -> scoring_pb2.ScoreDraftResponse:
        self._record("ScoreDraft", request, context)
        violations = [
            FieldViolation(f"networks[{i}]", f"unknown network {name!r} (loaded: longnet, simulated)")
            for i, name in enumerate(request.networks)
            if name not in DRAFT_NETWORKS
        ]
        if not request.text.strip():
            violations.insert(0, FieldViolation("text", "must not be empty"))
        if violations:
            raise ValidationError(violations)
        negative = any(word in request.text.lower() for word in ("bad", "schlecht", "awful"))
        response = scoring_pb2.ScoreDraftResponse(
            language=request.language or "en",
            sentiment=score_pb2.SENTIMENT_NEGATIVE if negative else score_pb2.SENTIMENT_POSITIVE,
            sentiment_confidence=0.8,
            polarity=-0.6 if negative else 0.6,
        )
        for name in request.networks or sorted(DRAFT_NETWORKS):
            limit = DRAFT_NETWORKS[name]
            tags = request.text.count("#")
            advice = response.advice.add(
                network=name,
                length=len(request.text),
                max_length=limit,
                fits=len(request.text) <= limit,
                hashtag_count=tags,
                recommended_max_hashtags=3,
            )
            if len(request.text) > limit:
                advice.suggestions.append(f"too long by {len(request.text) - limit} characters")
            if tags == 0:
                advice.suggestions.append("no hashtags: add one or two")
            if request.account:
                advice.best_times.add(weekday=1, hour=9, mean_engagement=42.5, posts=12)
                advice.best_times.add(weekday=3, hour=17, mean_engagement=30.0, posts=11)
        return response
