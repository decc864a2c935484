"""``resonanz scores authors | cascades | cascade | alerts``: opinion leaders, reshare cascades and
crisis alerts (ScoringService)."""

from __future__ import annotations

from typing import Annotated

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import typer
from resonanz.events.v1 import events_pb2

from resonanz_cli import render, render_scores
from resonanz_cli.client import clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, handled, stderr
from resonanz_cli.options import parse_timestamp
from resonanz_cli.output import JsonOpt, as_dict, print_json, show, show_all
from resonanz_cli.scores_common import LimitOpt, WindowOpt, window_duration

_ORDERS = {
    "size": scoring_pb2.CASCADE_ORDER_SIZE,
    "virality": scoring_pb2.CASCADE_ORDER_STRUCTURAL_VIRALITY,
    "growth": scoring_pb2.CASCADE_ORDER_GROWTH_RATE,
}
#: The most alerts one ListAlerts call asks for (the service's maximum page size).
ALERT_PAGE = 500


def authors(
    ctx: typer.Context,
    *,
    label: Annotated[str, typer.Argument(help="The brand or competitor label.", show_default=False)],
    window: WindowOpt = "7d",
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    """List a label's opinion leaders: followers, mentions, engagement, centrality and score.

    Centrality is PageRank in the window's reshare/quote/reply/mention graph (the top author is 1); the score
    combines followers, engagement earned and centrality (docs/scoring/metrics.md).

    Examples:

      resonanz scores authors acme

      resonanz scores authors acme --window 30d --limit 50 --json
    """
    duration = window_duration(window)
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        response = clients.scoring().ListTopAuthors(
            scoring_pb2.ListTopAuthorsRequest(label=label, window=duration, limit=limit),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show_all(
        list(response.authors),
        lambda items: render_scores.authors_table(items, title=f"opinion leaders of {label} ({window})"),
        as_json=as_json,
    )


def cascades(
    ctx: typer.Context,
    *,
    label: Annotated[str, typer.Argument(help="The brand or competitor label.", show_default=False)],
    window: WindowOpt = "7d",
    order: Annotated[
        str,
        typer.Option(
            "--order", "-o", metavar="ORDER", help="size (posts), virality (structural virality) or growth."
        ),
    ] = "size",
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    """List a label's largest, most viral or fastest-growing reshare cascades active in the window.

    Examples:

      resonanz scores cascades acme

      resonanz scores cascades acme --order virality --window 30d
    """
    if order not in _ORDERS:
        raise typer.BadParameter(f"{order!r} is not one of {', '.join(_ORDERS)}", param_hint="--order")
    duration = window_duration(window)
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        response = clients.scoring().ListCascades(
            scoring_pb2.ListCascadesRequest(label=label, window=duration, order=_ORDERS[order], limit=limit),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show_all(
        list(response.cascades),
        lambda items: render_scores.cascades_table(items, title=f"cascades of {label} by {order} ({window})"),
        as_json=as_json,
    )


def cascade(
    ctx: typer.Context,
    mention_id: Annotated[
        str, typer.Argument(help="Any mention of the cascade (NETWORK:EXTERNAL_ID).", show_default=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """Show the reshare cascade a mention belongs to: size, depth, structural virality, growth, reach.

    Example:

      resonanz scores cascade simulated:12345
    """
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        response = clients.scoring().GetCascade(
            scoring_pb2.GetCascadeRequest(mention_id=mention_id),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show(response.cascade, render_scores.cascade_panel, as_json=as_json)


def _list_alerts(ctx: typer.Context, labels: list[str], limit: int) -> list[events_pb2.Alert]:
    """The ``limit`` newest alerts of the labels (every label when none), newest first."""
    clients = clients_of(ctx)
    per_label: list[list[events_pb2.Alert]] = []
    with handled("scoring", clients.config.scoring_addr):
        for label in labels or [""]:
            found: list[events_pb2.Alert] = []
            token = ""
            while len(found) < limit:
                response = clients.scoring().ListAlerts(
                    scoring_pb2.ListAlertsRequest(
                        label=label, page_size=min(ALERT_PAGE, limit - len(found)), page_token=token
                    ),
                    metadata=clients.metadata,
                    timeout=clients.timeout,
                )
                found.extend(response.alerts)
                token = response.next_page_token
                if not token:
                    break
            per_label.append(found)

    def raised(alert: events_pb2.Alert) -> tuple[int, int, str]:
        return (alert.raised_at.seconds, alert.raised_at.nanos, alert.id)

    merged = sorted((a for found in per_label for a in found), key=raised, reverse=True)
    return merged[:limit]


def alerts(
    ctx: typer.Context,
    *,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", metavar="LABEL", help="Only this label (repeatable).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing alerts as they are raised, until Ctrl-C.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="TIME",
            help="With --follow: first replay the alerts raised after this ISO 8601 time.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", metavar="N", min=1, max=10_000, help="Without --follow: at most N."),
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List crisis alerts, newest first; with --follow, stream them as they are raised.

    With --follow and --json every alert is printed as one line of JSON.

    Examples:

      resonanz scores alerts

      resonanz scores alerts --label acme --follow

      resonanz scores alerts --follow --since 2026-06-01T00:00Z --json
    """
    labels = label or []
    if not follow:
        if since is not None:
            raise typer.BadParameter(
                "--since replays alerts before following; add --follow", param_hint="--since"
            )
        found = _list_alerts(ctx, labels, limit)
        show_all(
            found,
            lambda items: render_scores.alerts_table(items, title=f"{len(items)} alert(s)"),
            as_json=as_json,
        )
        return
    since_ts = parse_timestamp(since, param_hint="--since")
    request = scoring_pb2.StreamAlertsRequest(labels=labels)
    if since_ts is not None:
        request.since.CopyFrom(since_ts)
    clients = clients_of(ctx)
    console = render.stdout()
    seen = 0
    last = ""
    interrupted = False
    with handled("scoring", clients.config.scoring_addr):
        stream = clients.scoring().StreamAlerts(request, metadata=clients.metadata)
        try:
            for response in stream:
                seen += 1
                last = response.alert.raised_at.ToJsonString()
                if as_json:
                    print_json(as_dict(response.alert), indent=None)
                else:
                    console.print(render_scores.alert_line(response.alert), soft_wrap=True)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            stream.cancel()
    note = stderr()
    note.print(f"{seen} alert(s)")
    if last:
        note.print(f"resume with: resonanz scores alerts --follow --since {last}")
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
