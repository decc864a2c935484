"""``resonanz scores dashboard LABEL``: a brand's figures on one terminal screen, optionally refreshed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import typer
from resonanz.common.v1 import score_pb2
from resonanz.events.v1 import events_pb2

from resonanz_cli import render, render_scores
from resonanz_cli.client import Clients, clients_of
from resonanz_cli.errors import fail, handled
from resonanz_cli.output import JsonOpt, as_dict, print_json
from resonanz_cli.scores_common import WindowOpt, window_duration

#: Opinion leaders and alerts shown on the dashboard.
DASHBOARD_AUTHORS = 5
DASHBOARD_ALERTS = 5


@dataclass(frozen=True)
class Snapshot:
    scores: score_pb2.BrandScores
    timeline: scoring_pb2.GetBrandTimelineResponse
    share: scoring_pb2.GetShareOfVoiceResponse
    authors: list[scoring_pb2.AuthorRank]
    alerts: list[events_pb2.Alert]

    def as_json(self) -> dict[str, Any]:
        return {
            "scores": as_dict(self.scores),
            "timeline": [as_dict(p) for p in self.timeline.points],
            "share_of_voice": [as_dict(s) for s in self.share.labels],
            "top_authors": [as_dict(a) for a in self.authors],
            "alerts": [as_dict(a) for a in self.alerts],
        }


def snapshot(clients: Clients, label: str, window: str) -> Snapshot:
    """The five calls behind the dashboard (scores, timeline, share of voice, authors, alerts)."""
    duration = window_duration(window)
    stub, meta, timeout = clients.scoring(), clients.metadata, clients.timeout
    scores = stub.GetBrandScores(
        scoring_pb2.GetBrandScoresRequest(label=label, window=duration), metadata=meta, timeout=timeout
    ).scores
    timeline = stub.GetBrandTimeline(
        scoring_pb2.GetBrandTimelineRequest(label=label, window=duration), metadata=meta, timeout=timeout
    )
    share = stub.GetShareOfVoice(
        scoring_pb2.GetShareOfVoiceRequest(window=duration), metadata=meta, timeout=timeout
    )
    authors = stub.ListTopAuthors(
        scoring_pb2.ListTopAuthorsRequest(label=label, window=duration, limit=DASHBOARD_AUTHORS),
        metadata=meta,
        timeout=timeout,
    ).authors
    alerts = stub.ListAlerts(
        scoring_pb2.ListAlertsRequest(label=label, page_size=DASHBOARD_ALERTS), metadata=meta, timeout=timeout
    ).alerts
    return Snapshot(scores, timeline, share, list(authors), list(alerts))


def dashboard(
    ctx: typer.Context,
    *,
    label: Annotated[str, typer.Argument(help="The brand or competitor label.", show_default=False)],
    window: WindowOpt = "24h",
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            metavar="SECONDS",
            min=1.0,
            help="Refresh every SECONDS until Ctrl-C (not with --json).",
            show_default=False,
        ),
    ] = None,
    refreshes: Annotated[
        int | None, typer.Option("--refreshes", min=1, hidden=True, help="Stop --watch after N screens.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a brand dashboard: figures and their change, sentiment, timeline, share of voice, alerts.

    Headline figures with their change against the previous window of the same length, the sentiment
    split, sparklines of mentions and negative mentions per bucket, share of voice against the other
    labels, top hashtags, links and opinion leaders, and the latest alerts.

    Examples:

      resonanz scores dashboard acme

      resonanz scores dashboard acme --window 7d --watch 30
    """
    if as_json and watch is not None:
        fail("--json prints one snapshot; leave out --watch")
    window_duration(window)  # a bad --window is a usage error before anything is called
    clients = clients_of(ctx)
    console = render.stdout()
    shown = 0
    with handled("scoring", clients.config.scoring_addr):
        try:
            while True:
                data = snapshot(clients, label, window)
                if as_json:
                    print_json(data.as_json())
                    return
                if watch is not None:
                    console.clear()
                console.print(
                    render_scores.dashboard(data.scores, data.timeline, data.share, data.authors, data.alerts)
                )
                shown += 1
                if watch is None or (refreshes is not None and shown >= refreshes):
                    return
                time.sleep(watch)
        except KeyboardInterrupt:
            return  # Ctrl-C is how --watch ends
