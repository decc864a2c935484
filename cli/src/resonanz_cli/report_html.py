"""A campaign report as one self-contained HTML file: figures, inline SVG charts and tables.

Self-contained means: no script, no external style sheet, font, image or link is fetched when the
file is opened; the charts are SVG generated here (:mod:`resonanz_cli.render_svg`). Every text that
comes from the service (campaign id, hashtags, links, network names) is HTML-escaped, and links are
printed as text, never as clickable ``href`` (a campaign link is user data). The document is
well-formed XML (XHTML-compatible HTML5), so it can be checked with any XML parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from resonanz_cli.render_svg import bar_chart, e, hbar_chart, line_chart, stacked_bar

POSITIVE_COLOR = "#16a34a"
NEUTRAL_COLOR = "#9ca3af"
NEGATIVE_COLOR = "#dc2626"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 960px; color: #111827; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: 0.3rem; }
.meta { color: #6b7280; font-size: 0.9rem; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 0.75rem;
        margin-top: 1rem; }
.kpi { border: 1px solid #e5e7eb; border-radius: 8px; padding: 0.6rem 0.8rem; }
.kpi .v { font-size: 1.35rem; font-weight: 600; }
.kpi .k { color: #6b7280; font-size: 0.8rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin-top: 0.5rem; }
th, td { text-align: right; padding: 0.3rem 0.5rem; border-bottom: 1px solid #f3f4f6; }
th:first-child, td:first-child { text-align: left; }
th { color: #374151; font-weight: 600; }
svg.chart { margin-top: 0.75rem; font-size: 11px; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: #374151; }
svg .tick { fill: #4b5563; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; }
svg .empty { fill: #9ca3af; font-size: 14px; }
ul.terms { columns: 2; font-size: 0.9rem; }
footer { margin-top: 2.5rem; color: #9ca3af; font-size: 0.8rem; }
"""

#: Columns of the per-day and per-network tables: (heading, field of CampaignSlice).
_SLICE_COLUMNS = (
    ("posts", "posts"),
    ("mentions", "mentions"),
    ("replies", "replies"),
    ("reshares", "reshares"),
    ("reach", "reach"),
    ("impressions", "impressions"),
    ("engagement", "engagement"),
    ("positive", "positive_count"),
    ("neutral", "neutral_count"),
    ("negative", "negative_count"),
)


def _when(ts: Timestamp) -> str:
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _kpis(total: scoring_pb2.CampaignSlice) -> str:
    figures = [
        ("posts", f"{total.posts:,}"),
        ("mentions", f"{total.mentions:,}"),
        ("replies", f"{total.replies:,}"),
        ("reshares", f"{total.reshares:,}"),
        ("reach", f"{total.reach:,}"),
        ("impressions", f"{total.impressions:,}"),
        ("engagement", f"{total.engagement:,}"),
        ("net sentiment", f"{total.net_sentiment:+.2f}"),
    ]
    cells = "".join(
        f'<div class="kpi"><div class="v">{e(value)}</div><div class="k">{e(key)}</div></div>'
        for key, value in figures
    )
    return f'<div class="kpis">{cells}</div>'


def _slice_table(slices: Sequence[scoring_pb2.CampaignSlice], key_heading: str) -> str:
    if not slices:
        return '<p class="meta">none</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in (key_heading, *(c for c, _ in _SLICE_COLUMNS), "net"))
    rows = []
    for s in slices:
        cells = "".join(f"<td>{getattr(s, f):,}</td>" for _, f in _SLICE_COLUMNS)
        rows.append(f"<tr><td>{e(s.key)}</td>{cells}<td>{s.net_sentiment:+.2f}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _terms(items: Sequence[str]) -> str:
    if not items:
        return '<p class="meta">none</p>'
    return '<ul class="terms">' + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>"


def campaign_report_html(report: scoring_pb2.CampaignReport, *, tenant: str, generated_at: datetime) -> str:
    """The complete HTML document for ``report``."""
    total = report.total
    days = list(report.by_day)
    networks = sorted(report.by_network, key=lambda s: (-s.reach, s.key))
    title = f"Campaign report: {report.campaign_id}"
    charts = [
        bar_chart([d.key for d in days], [float(d.reach) for d in days], title="Reach by day"),
        line_chart([d.key for d in days], [float(d.engagement) for d in days], title="Engagement by day"),
        hbar_chart([n.key for n in networks], [float(n.reach) for n in networks], title="Reach by network"),
        hbar_chart(
            [n.key for n in networks], [float(n.engagement) for n in networks], title="Engagement by network"
        ),
        stacked_bar(
            [
                ("positive", float(total.positive_count), POSITIVE_COLOR),
                ("neutral", float(total.neutral_count), NEUTRAL_COLOR),
                ("negative", float(total.negative_count), NEGATIVE_COLOR),
            ],
            title="Sentiment of the campaign's replies, reshares and mentions",
        ),
    ]
    top_hashtags = "".join(f"<tr><td>#{e(t.term)}</td><td>{t.count:,}</td></tr>" for t in report.top_hashtags)
    body = [
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">tenant {e(tenant)} · first post {e(_when(report.first_post_at))} · '
        f"last activity {e(_when(report.last_activity_at))}</p>",
        _kpis(total),
        "<h2>By day</h2>",
        charts[0],
        charts[1],
        _slice_table(days, "day (UTC)"),
        "<h2>By network</h2>",
        charts[2],
        charts[3],
        _slice_table(networks, "network"),
        "<h2>Sentiment</h2>",
        charts[4],
        "<h2>Top hashtags</h2>",
        (
            f"<table><thead><tr><th>hashtag</th><th>mentions</th></tr></thead><tbody>{top_hashtags}"
            "</tbody></table>"
            if top_hashtags
            else '<p class="meta">none</p>'
        ),
        "<h2>Matched on</h2>",
        "<p>Mentions were attributed to the campaign when they replied to, reshared or quoted one of its "
        "posts, or carried one of these hashtags or links.</p>",
        "<h3>Hashtags</h3>",
        _terms([f"#{h}" for h in report.hashtags]),
        "<h3>Links</h3>",
        _terms(list(report.links)),
        f"<footer>Generated by resonanz on {e(generated_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC'))}. "
        "Figures: docs/scoring/metrics.md.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
