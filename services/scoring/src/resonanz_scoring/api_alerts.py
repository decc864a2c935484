"""ScoringService handlers for crisis alerts: ListAlerts (pages, newest first) and StreamAlerts
(replay after ``since``, then live).

StreamAlerts reads the ``scoring_alerts`` table, which every replica can read, so a client may stream
from any replica. It sends the alerts raised after ``since`` (without it: after the call began, by
their ``raised_at``). While live it polls the table every ``ApiDeps.alert_poll_seconds`` (1 s by
default) from :data:`OVERLAP` before the newest alert it has sent (never before ``since`` or the
start), and skips alerts it has already sent: an alert committed late by another replica, with a
``raised_at`` slightly older than one already sent, is still delivered, and none is delivered twice.
The stream ends when the client cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.grpc import Validator, tenant_of

from resonanz_scoring.api_common import (
    MAX_PAGE_SIZE,
    ApiDeps,
    Context,
    cursor_of,
    encode_cursor,
    label_of,
    timestamp_of,
)
from resonanz_scoring.queries_alerts import alerts_newest_first, alerts_oldest_first

#: How far back each live poll looks again, for alerts committed out of order by other replicas.
OVERLAP = timedelta(seconds=60)
#: Alerts read per query while streaming.
STREAM_BATCH = 200
#: At most this many labels per StreamAlerts call.
MAX_STREAM_LABELS = 100


class AlertHandlers:
    deps: ApiDeps

    async def ListAlerts(  # noqa: N802 - gRPC method name
        self, request: pb.ListAlertsRequest, context: Context
    ) -> pb.ListAlertsResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label, required=False)
        size = v.page_size(request.page_size, "page_size", max=MAX_PAGE_SIZE)
        before = cursor_of(v, request.page_token)
        v.check()
        rows = await alerts_newest_first(self.deps.engine, tenant, label, size + 1, before)
        response = pb.ListAlertsResponse(alerts=[alert for _, alert in rows[:size]])
        if len(rows) > size:
            at, last = rows[size - 1]
            response.next_page_token = encode_cursor(at, last.id)
        return response

    async def StreamAlerts(  # noqa: N802 - gRPC method name
        self, request: pb.StreamAlertsRequest, context: Context
    ) -> AsyncIterator[pb.StreamAlertsResponse]:
        tenant = tenant_of(context)
        v = Validator()
        v.require(
            len(request.labels) <= MAX_STREAM_LABELS,
            "labels",
            f"at most {MAX_STREAM_LABELS} labels (got {len(request.labels)})",
        )
        labels = [
            label_of(v, label, f"labels[{i}]") for i, label in enumerate(request.labels[:MAX_STREAM_LABELS])
        ]
        since = timestamp_of(v, request.since, request.HasField("since"), "since")
        v.check()
        # Everything raised after ``since`` (without it: after the call began), never earlier even
        # with the overlap of later polls.
        floor = since if since is not None else self.deps.clock()
        newest = floor
        lower = floor
        sent: dict[str, datetime] = {}
        while True:
            after: tuple[datetime, str | None] = (lower, None)
            while True:
                rows = await alerts_oldest_first(self.deps.engine, tenant, labels, after, STREAM_BATCH)
                for at, alert in rows:
                    if alert.id in sent:
                        continue
                    sent[alert.id] = at
                    newest = max(newest, at)
                    yield pb.StreamAlertsResponse(alert=alert)
                if len(rows) < STREAM_BATCH:
                    break
                at, last = rows[-1]
                after = (at, last.id)
            lower = max(floor, newest - OVERLAP)
            for alert_id in [i for i, at in sent.items() if at <= lower]:
                del sent[alert_id]
            await asyncio.sleep(self.deps.alert_poll_seconds)
