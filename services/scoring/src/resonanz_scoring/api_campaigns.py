"""ScoringService handler for campaign reports: GetCampaignReport.

The figures come from the campaign tables the campaigns agent keeps (own posts, campaign terms,
attributed mentions; docs/scoring/aggregates.md) through :mod:`resonanz_scoring.aggregate_queries`.
"""

from __future__ import annotations

from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import Validator, tenant_of

from resonanz_scoring.aggregate_queries import campaign_report, campaign_report_to_proto
from resonanz_scoring.api_common import ApiDeps, Context, timestamp_of
from resonanz_scoring.models import ID_LEN


class CampaignHandlers:
    deps: ApiDeps

    async def GetCampaignReport(  # noqa: N802 - gRPC method name
        self, request: pb.GetCampaignReportRequest, context: Context
    ) -> pb.GetCampaignReportResponse:
        tenant = tenant_of(context)
        v = Validator()
        if v.non_empty(request.campaign_id, "campaign_id"):
            v.max_length(request.campaign_id, ID_LEN, "campaign_id")
        campaign_id = request.campaign_id.strip()
        since = timestamp_of(v, request.since, request.HasField("since"), "since")
        until = timestamp_of(v, request.until, request.HasField("until"), "until")
        if since is not None and until is not None:
            v.require(since < until, "until", "must be after since")
        v.check()
        data = await campaign_report(self.deps.engine, tenant, campaign_id, since, until)
        if data is None:
            raise NotFoundError(f"no campaign {campaign_id!r}")
        return pb.GetCampaignReportResponse(report=campaign_report_to_proto(data))
