"""ScoringService handlers for reshare cascades: GetCascade and ListCascades."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.errors import NotFoundError
from resonanz_sdk.grpc import Validator, tenant_of

from resonanz_scoring.api_common import (
    ApiDeps,
    Context,
    duration_of,
    label_of,
    limit_of,
    mention_id_of,
    set_timestamp,
)
from resonanz_scoring.queries_cascades import CascadeOrder, cascade_of, top_cascades

#: ListCascades: cascades active in this trailing window when ``window`` is unset.
DEFAULT_CASCADE_WINDOW = timedelta(days=7)

_ORDERS = {
    pb.CASCADE_ORDER_UNSPECIFIED: CascadeOrder.SIZE,
    pb.CASCADE_ORDER_SIZE: CascadeOrder.SIZE,
    pb.CASCADE_ORDER_STRUCTURAL_VIRALITY: CascadeOrder.STRUCTURAL_VIRALITY,
    pb.CASCADE_ORDER_GROWTH_RATE: CascadeOrder.GROWTH_RATE,
}


def cascade_proto(row: Mapping[str, Any]) -> pb.Cascade:
    cascade = pb.Cascade(
        root_mention_id=row["root_mention_id"],
        network=row["network"],
        size=int(row["size"]),
        depth=int(row["depth"]),
        structural_virality=float(row["structural_virality"]),
        growth_rate_per_hour=float(row["growth_rate_per_hour"]),
        estimated_reach=int(row["estimated_reach"]),
        labels=list(row["labels"] or []),
        root_author_handle=row["root_author_handle"],
        root_text=row["root_text"],
    )
    set_timestamp(cascade.started_at, row["started_at"])
    set_timestamp(cascade.last_activity_at, row["last_activity_at"])
    return cascade


class CascadeHandlers:
    deps: ApiDeps

    async def GetCascade(  # noqa: N802 - gRPC method name
        self, request: pb.GetCascadeRequest, context: Context
    ) -> pb.GetCascadeResponse:
        tenant = tenant_of(context)
        v = Validator()
        mention_id = mention_id_of(v, request.mention_id, "mention_id")
        v.check()
        row = await cascade_of(self.deps.engine, tenant, mention_id)
        if row is None:
            raise NotFoundError(f"no scored mention {mention_id!r}")
        return pb.GetCascadeResponse(cascade=cascade_proto(row))

    async def ListCascades(  # noqa: N802 - gRPC method name
        self, request: pb.ListCascadesRequest, context: Context
    ) -> pb.ListCascadesResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label)
        window = duration_of(
            v, request.window, request.HasField("window"), "window", default=DEFAULT_CASCADE_WINDOW
        )
        order = _ORDERS.get(request.order)
        v.require(order is not None, "order", f"unknown cascade order {request.order}")
        limit = limit_of(v, request.limit)
        v.check()
        rows = await top_cascades(
            self.deps.engine,
            tenant,
            label=label,
            active_after=self.deps.clock() - window,
            order=order or CascadeOrder.SIZE,
            limit=limit,
        )
        return pb.ListCascadesResponse(cascades=[cascade_proto(row) for row in rows])
