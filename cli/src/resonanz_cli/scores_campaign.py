"""``resonanz scores campaign-report CAMPAIGN_ID --out report.html``: a campaign's figures as a
self-contained HTML file with charts (or as JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import typer

from resonanz_cli.client import clients_of
from resonanz_cli.errors import fail, handled, stderr
from resonanz_cli.options import parse_timestamp
from resonanz_cli.output import JsonOpt, as_dict, print_json
from resonanz_cli.report_html import campaign_report_html


def campaign_report(
    ctx: typer.Context,
    *,
    campaign_id: Annotated[
        str, typer.Argument(help="The campaign id posts were created with.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Write the HTML report here (overwritten); required unless --json.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="Only from this ISO 8601 time.", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TIME", help="Only until this ISO 8601 time.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a campaign report (reach, engagement, sentiment; by network and day) as an HTML file.

    The report covers the campaign's posts, their replies and reshares, and mentions of its hashtags
    and links: reach, impressions, engagement and sentiment in total, by network and by day. The HTML
    file needs nothing else to be opened: the charts are inline SVG, nothing is fetched.

    Examples:

      resonanz scores campaign-report summer-sale --out summer-sale.html

      resonanz scores campaign-report summer-sale --since 2026-06-01T00:00Z --json
    """
    if out is None and not as_json:
        fail("say where to write the report with --out FILE (or print it with --json)")
    request = scoring_pb2.GetCampaignReportRequest(campaign_id=campaign_id)
    since_ts = parse_timestamp(since, param_hint="--since")
    until_ts = parse_timestamp(until, param_hint="--until")
    if since_ts is not None:
        request.since.CopyFrom(since_ts)
    if until_ts is not None:
        request.until.CopyFrom(until_ts)
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        report = (
            clients.scoring()
            .GetCampaignReport(request, metadata=clients.metadata, timeout=clients.timeout)
            .report
        )
    if as_json:
        print_json(as_dict(report))
        if out is None:
            return
    assert out is not None
    document = campaign_report_html(report, tenant=clients.config.tenant, generated_at=datetime.now(UTC))
    try:
        out.write_text(document, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    stderr().print(f"wrote {out} ({len(document.encode()):,} bytes)")
