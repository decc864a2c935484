"""gRPC ``resonanz.scoring.v1.ScoringService``: brand aggregates and scored mentions, from the database.

Every call is for the tenant in its metadata and reads only that tenant's rows; any replica answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc.aio
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token, tenant_of
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.convert import brand_scores_to_proto, scored_mention_from_row, utc
from resonanz_scoring.models import LABEL_LEN
from resonanz_scoring.queries import brand_aggregate, scored_mentions_page

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=366)
MAX_PAGE_SIZE = 500

SERVICE_NAME: str = scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name

Context = grpc.aio.ServicerContext[Any, Any]


def _label(v: Validator, label: str) -> str:
    if v.non_empty(label, "label"):
        v.max_length(label, LABEL_LEN, "label")
    return label.strip()


def window_of(request: scoring_service_pb2.GetBrandScoresRequest, v: Validator) -> timedelta:
    if not request.HasField("window"):
        return DEFAULT_WINDOW
    seconds, nanos = request.window.seconds, request.window.nanos
    if not v.require(abs(nanos) < 1_000_000_000, "window", "nanos must be within one second"):
        return DEFAULT_WINDOW
    window = timedelta(seconds=seconds, microseconds=nanos // 1000)
    v.require(window > timedelta(0), "window", "must be positive")
    v.require(window <= MAX_WINDOW, "window", "must be at most 366 days")
    return window


def _cursor(token: str) -> tuple[datetime, str] | None:
    position = page_token.decode(token, "page_token")
    if not position:
        return None
    at, sep, mention_id = position.partition("|")
    try:
        when = utc(datetime.fromisoformat(at))
    except ValueError:
        when = None
    if not sep or when is None or not mention_id:
        raise ValidationError.single("page_token", "invalid page token")
    return when, mention_id


class ScoringServicer(scoring_service_pb2_grpc.ScoringServiceServicer):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def GetBrandScores(  # noqa: N802 - gRPC method name
        self, request: scoring_service_pb2.GetBrandScoresRequest, context: Context
    ) -> scoring_service_pb2.GetBrandScoresResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = _label(v, request.label)
        window = window_of(request, v)
        v.check()
        end = datetime.now(UTC)
        aggregate = await brand_aggregate(self.engine, tenant, label, end - window, end)
        return scoring_service_pb2.GetBrandScoresResponse(scores=brand_scores_to_proto(aggregate))

    async def ListScoredMentions(  # noqa: N802 - gRPC method name
        self, request: scoring_service_pb2.ListScoredMentionsRequest, context: Context
    ) -> scoring_service_pb2.ListScoredMentionsResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = _label(v, request.label)
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        v.check()
        after = _cursor(request.page_token)
        rows = await scored_mentions_page(self.engine, tenant, label, size + 1, after)
        response = scoring_service_pb2.ListScoredMentionsResponse(
            mentions=[scored_mention_from_row(row) for row in rows[:size]]
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = page_token.encode(
                f"{utc(last['occurred_at']).isoformat()}|{last['mention_id']}"
            )
        return response
