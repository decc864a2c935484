"""ListAlerts and StreamAlerts over real gRPC and a real database (SQLite and PostgreSQL), reading
alert rows written with the crisis agent's ORM class."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.events.v1 import events_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_scoring.aggregate_models import AlertRow
from resonanz_sdk.grpc import page_token
from scoring_api_support import META, NOW, OTHER, OTHER_META, TENANT, Api, api, violations

assert api  # fixture

pytestmark = pytest.mark.integration


def alert_row(alert_id: str, raised_at: datetime, *, label: str = "acme", tenant: str = TENANT) -> AlertRow:
    alert = events_pb2.Alert(
        id=alert_id,
        label=label,
        tenant=tenant,
        kind=events_pb2.ALERT_KIND_NEGATIVE_SPIKE,
        severity=events_pb2.ALERT_SEVERITY_CRITICAL,
        message=f"negative mentions of {label} spiked",
        observed=40,
        baseline=3,
        z_score=7.5,
        sample_mention_ids=["testnet:1"],
    )
    alert.raised_at.FromDatetime(raised_at)
    alert.window_start.FromDatetime(raised_at - timedelta(minutes=15))
    alert.window_end.FromDatetime(raised_at)
    return AlertRow(
        tenant=tenant,
        id=alert_id,
        label=label,
        kind=alert.kind,
        severity=alert.severity,
        raised_at=raised_at,
        window_start=raised_at - timedelta(minutes=15),
        window_end=raised_at,
        observed=40.0,
        baseline=3.0,
        z_score=7.5,
        message=alert.message,
        sample_mention_ids=list(alert.sample_mention_ids),
        alert=alert.SerializeToString(),
    )


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


async def test_list_alerts_pages_newest_first_per_label_and_tenant(api: Api) -> None:
    minute = timedelta(minutes=1)
    await api.add_rows(
        *(alert_row(f"a{i}", NOW - i * minute) for i in range(5)),
        alert_row("a-same-time", NOW - 2 * minute),
        alert_row("g1", NOW, label="globex"),
        alert_row("x1", NOW, tenant=OTHER),
    )
    ids: list[str] = []
    token = ""
    while True:
        response = await api.stub.ListAlerts(
            pb.ListAlertsRequest(label="acme", page_size=2, page_token=token), metadata=META
        )
        ids += [a.id for a in response.alerts]
        token = response.next_page_token
        if not token:
            break
    assert ids == ["a0", "a1", "a2", "a-same-time", "a3", "a4"]
    first = (await api.stub.ListAlerts(pb.ListAlertsRequest(page_size=1), metadata=META)).alerts[0]
    assert first.id in {"a0", "g1"}
    assert first.kind == events_pb2.ALERT_KIND_NEGATIVE_SPIKE
    assert first.z_score == 7.5
    everything = await api.stub.ListAlerts(pb.ListAlertsRequest(), metadata=META)
    assert len(everything.alerts) == 7
    theirs = await api.stub.ListAlerts(pb.ListAlertsRequest(), metadata=OTHER_META)
    assert [a.id for a in theirs.alerts] == ["x1"]


async def test_list_alerts_validation(api: Api) -> None:
    found = await violations(
        api.stub.ListAlerts(
            pb.ListAlertsRequest(label="x" * 201, page_size=-3, page_token="%%%"), metadata=META
        )
    )
    assert {v.field for v in found} == {"label", "page_size", "page_token"}
    found = await violations(
        api.stub.ListAlerts(pb.ListAlertsRequest(page_token=page_token.encode("x|y")), metadata=META)
    )
    assert [v.field for v in found] == ["page_token"]


async def _next(stream: grpc.aio.UnaryStreamCall[pb.StreamAlertsRequest, pb.StreamAlertsResponse]) -> str:
    response = await asyncio.wait_for(stream.read(), timeout=10)
    assert isinstance(response, pb.StreamAlertsResponse)
    return response.alert.id


async def test_stream_alerts_replays_after_since_then_goes_live(api: Api) -> None:
    minute = timedelta(minutes=1)
    await api.add_rows(
        alert_row("old", NOW - 10 * minute),
        alert_row("r1", NOW - 5 * minute),
        alert_row("r2", NOW - 4 * minute),
        alert_row("g-r", NOW - 3 * minute, label="globex"),
        alert_row("x-r", NOW - 3 * minute, tenant=OTHER),
    )
    stream = api.stub.StreamAlerts(
        pb.StreamAlertsRequest(labels=["acme"], since=ts(NOW - 6 * minute)), metadata=META
    )
    assert [await _next(stream), await _next(stream)] == ["r1", "r2"]
    # live: a new alert, one committed late with an older raised_at, another label's, another tenant's
    await api.add_rows(alert_row("live1", NOW + minute))
    assert await _next(stream) == "live1"
    await api.add_rows(
        alert_row("late", NOW + minute - timedelta(seconds=20)),
        alert_row("g-live", NOW + 2 * minute, label="globex"),
        alert_row("x-live", NOW + 2 * minute, tenant=OTHER),
        alert_row("live2", NOW + 3 * minute),
    )
    assert [await _next(stream), await _next(stream)] == ["late", "live2"]
    stream.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stream.read()


async def test_stream_alerts_without_since_sends_only_new_alerts(api: Api) -> None:
    # the servicer's clock is NOW: "before" and "at-start" were raised before the call, even if one
    # is committed after the stream began
    await api.add_rows(alert_row("before", NOW - timedelta(seconds=5)), alert_row("at-start", NOW, label="b"))
    stream = api.stub.StreamAlerts(pb.StreamAlertsRequest(), metadata=META)
    await api.add_rows(alert_row("late-old", NOW - timedelta(seconds=1), label="b"))
    await api.add_rows(alert_row("new", NOW + timedelta(seconds=1), label="b"))
    assert await _next(stream) == "new"
    await api.add_rows(alert_row("newer", NOW + timedelta(seconds=2)))
    assert await _next(stream) == "newer"
    stream.cancel()


async def test_stream_alerts_validation(api: Api) -> None:
    stream = api.stub.StreamAlerts(pb.StreamAlertsRequest(labels=["acme", "", "y" * 300]), metadata=META)
    found = await violations(stream.read())
    assert [v.field for v in found] == ["labels[1]", "labels[2]"]
    stream = api.stub.StreamAlerts(pb.StreamAlertsRequest(labels=["l"] * 101), metadata=META)
    found = await violations(stream.read())
    assert [v.field for v in found] == ["labels"]
