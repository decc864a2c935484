"""``resonanz scores``: brand scores, scored mentions, the dashboard, opinion leaders, cascades,
alerts, campaign reports and draft advice (ScoringService). The commands beyond ``show`` and
``mentions`` live in the ``scores_*`` modules and are registered at the end of this one."""

from __future__ import annotations

from typing import Annotated

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import typer
from google.protobuf.duration_pb2 import Duration

from resonanz_cli import render, scores_campaign, scores_dashboard, scores_draft, scores_insights
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled
from resonanz_cli.options import parse_window
from resonanz_cli.output import JsonOpt, show_all
from resonanz_cli.output import show as show_message

app = typer.Typer(help="Show scores of brands and competitors.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    label: Annotated[str, typer.Argument(help="The brand or competitor label.", show_default=False)],
    window: Annotated[
        str,
        typer.Option(
            "--window",
            "-w",
            metavar="WINDOW",
            help="Trailing window: 90m, 24h, 7d, 2w or e.g. 1d12h (max 366d).",
        ),
    ] = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Show counts, net sentiment, reach, reputation index, share of voice and top hashtags and authors.

    Examples:

      resonanz scores show acme

      resonanz scores show acme --window 7d

      resonanz scores show acme --json
    """
    duration = Duration()
    duration.FromTimedelta(parse_window(window))
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        response = clients.scoring().GetBrandScores(
            scoring_pb2.GetBrandScoresRequest(label=label, window=duration),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show_message(response.scores, render.brand_scores_panel, as_json=as_json)


@app.command("mentions")
def mentions(
    ctx: typer.Context,
    label: Annotated[str, typer.Argument(help="The brand or competitor label.", show_default=False)],
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=10_000, help="Show at most this many.")
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List a label's scored mentions, newest first, with sentiment, polarity, reach and engagement.

    Examples:

      resonanz scores mentions acme

      resonanz scores mentions acme --limit 200
    """
    clients = clients_of(ctx)
    items: list[scoring_pb2.ScoredMention] = []
    token = ""
    with handled("scoring", clients.config.scoring_addr):
        while len(items) < limit:
            response = clients.scoring().ListScoredMentions(
                scoring_pb2.ListScoredMentionsRequest(
                    label=label, page_size=min(500, limit - len(items)), page_token=token
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            items.extend(response.mentions)
            token = response.next_page_token
            if not token or not response.mentions:
                break
    show_all(items[:limit], lambda shown: render.scored_mentions_table(shown, label=label), as_json=as_json)


app.command("dashboard")(scores_dashboard.dashboard)
app.command("authors")(scores_insights.authors)
app.command("cascades")(scores_insights.cascades)
app.command("cascade")(scores_insights.cascade)
app.command("alerts")(scores_insights.alerts)
app.command("campaign-report")(scores_campaign.campaign_report)
app.command("draft")(scores_draft.draft)
