"""Rich renderings of the scoring service's answers: the brand dashboard, top authors, cascades,
alerts and draft advice. Pure functions from protobuf messages to renderables."""

from __future__ import annotations

from collections.abc import Sequence

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from resonanz_cli.render import enum_label, sentiment_label, shorten, styled, timestamp

SPARK = "▁▂▃▄▅▆▇█"
#: Width in characters of the sentiment bar and the share-of-voice bars.
BAR_WIDTH = 40
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def sparkline(values: Sequence[int]) -> str:
    """One block character per value, scaled from 0 to the largest value."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def delta_text(current: float, previous: float, *, percent: float | None = None, fmt: str = ",.0f") -> Text:
    """``▲ +25%`` (green) / ``▼ -10%`` (red) / ``= 0%``; with ``percent`` None the absolute change."""
    change = percent if percent is not None else current - previous
    if previous == 0 and percent is not None:
        return Text("new" if current else "-", style="dim")
    arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "dim")
    shown = f"{change:+.0%}" if percent is not None else format(change, "+" + fmt)
    return Text(f"{arrow} {shown}", style=style)


def sentiment_bar(positive: int, neutral: int, negative: int, width: int = BAR_WIDTH) -> Text:
    """A bar of ``width`` cells split green / yellow / red by the counts, with the counts after it."""
    total = positive + neutral + negative
    bar = Text()
    if total == 0:
        bar.append("·" * width, style="dim")
    else:
        cells = [round(width * n / total) for n in (positive, neutral, negative)]
        cells[1] = width - cells[0] - cells[2]
        for n, style in zip(cells, ("green", "yellow", "red"), strict=True):
            bar.append("█" * max(n, 0), style=style)
    bar.append(f"  {positive:,} positive · {neutral:,} neutral · {negative:,} negative")
    return bar


def share_bar(share: float, width: int = BAR_WIDTH // 2) -> str:
    cells = round(max(0.0, min(1.0, share)) * width)
    return "█" * cells + "·" * (width - cells)


def _terms(title: str, terms: Sequence[score_pb2.TermCount], *, prefix: str = "") -> Table:
    table = Table(title=title, box=None, title_justify="left")
    table.add_column("term", overflow="fold")
    table.add_column("count", justify="right")
    for term in terms[:5]:
        text = prefix + term.term.removeprefix(prefix) if prefix else term.term
        table.add_row(escape(text), f"{term.count:,}")
    if not terms:
        table.add_row("-", "")
    return table


def alert_kind(kind: events_pb2.AlertKind.ValueType) -> str:
    return enum_label(events_pb2.AlertKind.Name(kind), "ALERT_KIND_")


def alert_severity(severity: events_pb2.AlertSeverity.ValueType) -> str:
    return enum_label(events_pb2.AlertSeverity.Name(severity), "ALERT_SEVERITY_")


def alert_line(alert: events_pb2.Alert) -> Text:
    """One line per alert: when, severity, label, kind, observed vs baseline, the message."""
    severity = alert_severity(alert.severity)
    line = Text()
    line.append(timestamp(alert.raised_at) + "  ", style="dim")
    line.append(f"{severity:<8} ", style="bold red" if severity == "critical" else "yellow")
    line.append(f"{alert.label}  ", style="magenta")
    line.append(f"{alert_kind(alert.kind)}  ")
    line.append(f"{alert.observed:,.0f} vs {alert.baseline:,.1f} (z {alert.z_score:.1f})  ", style="dim")
    line.append(shorten(alert.message, 120))
    return line


def alerts_table(alerts: Sequence[events_pb2.Alert], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("raised", "severity", "label", "kind", "observed", "baseline", "z", "message"):
        table.add_column(column, justify="right" if column in ("observed", "baseline", "z") else "left")
    for a in alerts:
        severity = alert_severity(a.severity)
        table.add_row(
            timestamp(a.raised_at),
            Text(severity, style="bold red" if severity == "critical" else "yellow"),
            escape(a.label),
            alert_kind(a.kind),
            f"{a.observed:,.0f}",
            f"{a.baseline:,.1f}",
            f"{a.z_score:.1f}",
            Text(shorten(a.message, 80)),
        )
    return table


def authors_table(authors: Sequence[scoring_pb2.AuthorRank], *, title: str) -> Table:
    table = Table(title=title)
    for column in (
        "#",
        "author",
        "network",
        "followers",
        "mentions",
        "engagement",
        "centrality",
        "score",
        "net",
    ):
        table.add_column(column, justify="left" if column in ("author", "network") else "right")
    for a in authors:
        name = Text("@" + a.handle if a.handle else a.author_id, style="bold")
        if a.verified:
            name.append(" ✓", style="cyan")
        if a.display_name:
            name.append(f" {a.display_name}", style="dim")
        table.add_row(
            str(a.rank),
            name,
            escape(a.network),
            f"{a.followers:,}",
            f"{a.mention_count:,}",
            f"{a.engagement_earned:,}",
            f"{a.centrality:.2f}",
            f"{a.score:.3f}",
            f"{a.net_sentiment:+.2f}",
        )
    return table


def cascades_table(cascades: Sequence[scoring_pb2.Cascade], *, title: str) -> Table:
    table = Table(title=title)
    for column in (
        "root",
        "network",
        "size",
        "depth",
        "virality",
        "growth/h",
        "reach",
        "last activity",
        "root post",
    ):
        table.add_column(
            column,
            justify="right" if column in ("size", "depth", "virality", "growth/h", "reach") else "left",
        )
    for c in cascades:
        author = f"@{c.root_author_handle}: " if c.root_author_handle else ""
        table.add_row(
            escape(c.root_mention_id),
            escape(c.network),
            f"{c.size:,}",
            str(c.depth),
            f"{c.structural_virality:.2f}",
            f"{c.growth_rate_per_hour:.1f}",
            f"{c.estimated_reach:,}",
            timestamp(c.last_activity_at),
            Text(shorten(author + c.root_text, 60)),
        )
    return table


def cascade_panel(c: scoring_pb2.Cascade) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("root", escape(c.root_mention_id))
    grid.add_row("network", escape(c.network))
    grid.add_row("posts", f"{c.size:,} (depth {c.depth})")
    grid.add_row("structural virality", f"{c.structural_virality:.3f}")
    grid.add_row("growth", f"{c.growth_rate_per_hour:.1f} posts/hour")
    grid.add_row("estimated reach", f"{c.estimated_reach:,}")
    grid.add_row("active", f"{timestamp(c.started_at)} … {timestamp(c.last_activity_at)}")
    grid.add_row("labels", escape(", ".join(c.labels) or "-"))
    if c.root_author_handle:
        grid.add_row("root author", escape("@" + c.root_author_handle))
    if c.root_text:
        grid.add_row("root post", Text(shorten(c.root_text, 200)))
    return Panel(grid, title=f"cascade of {escape(c.root_mention_id)}")


def dashboard(
    scores: score_pb2.BrandScores,
    timeline: scoring_pb2.GetBrandTimelineResponse,
    share: scoring_pb2.GetShareOfVoiceResponse,
    authors: Sequence[scoring_pb2.AuthorRank],
    alerts: Sequence[events_pb2.Alert],
) -> RenderableType:
    """The terminal brand dashboard: headline figures with deltas, sentiment bar, timeline sparkline,
    share of voice, top hashtags/links/authors and the latest alerts."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_column()
    head.add_row(
        "mentions",
        f"{scores.mention_count:,}",
        Text.assemble(
            delta_text(
                scores.mention_count, scores.previous_mention_count, percent=scores.mention_count_delta
            ),
            Text(f"  (previous {scores.previous_mention_count:,})", style="dim"),
        ),
    )
    head.add_row(
        "net sentiment",
        f"{scores.net_sentiment:+.2f}",
        Text.assemble(
            delta_text(scores.net_sentiment, scores.previous_net_sentiment, fmt=".2f"),
            Text(f"  (previous {scores.previous_net_sentiment:+.2f})", style="dim"),
        ),
    )
    head.add_row("reputation index", f"{scores.reputation_index:+.1f}", Text("-100 … +100", style="dim"))
    head.add_row("reach", f"{scores.total_reach:,}", "")
    head.add_row("impressions", f"{scores.total_impressions:,}", "")
    head.add_row("engagement", f"{scores.total_engagement:,}", "")
    head.add_row("share of voice", f"{scores.share_of_voice:.1%}", "")

    counts = [p.mention_count for p in timeline.points]
    negatives = [p.negative_count for p in timeline.points]
    spark = Table.grid(padding=(0, 2))
    spark.add_column(style="bold")
    spark.add_column()
    first = timestamp(timeline.points[0].bucket_start) if timeline.points else "-"
    spark.add_row("mentions", Text(sparkline(counts), style="cyan"))
    spark.add_row("negative", Text(sparkline(negatives), style="red"))
    spark.add_row(
        "", Text(f"{len(counts)} buckets from {first}, peak {max(counts, default=0):,}", style="dim")
    )

    voice = Table(title="share of voice", box=None, title_justify="left")
    for column in ("label", "role", "mentions", "share", "", "net"):
        voice.add_column(column, justify="right" if column in ("mentions", "share", "net") else "left")
    for s in share.labels[:8]:
        role = enum_label(mention_pb2.QueryRole.Name(s.role), "QUERY_ROLE_")
        mine = s.label == scores.label
        voice.add_row(
            Text(s.label, style="bold" if mine else ""),
            role,
            f"{s.mention_count:,}",
            f"{s.share_of_voice:.1%}",
            Text(share_bar(s.share_of_voice), style="cyan" if mine else "dim"),
            f"{s.net_sentiment:+.2f}",
        )

    tops = Table.grid(padding=(0, 4))
    top_authors = [
        score_pb2.TermCount(term="@" + a.handle if a.handle else a.author_id, count=a.mention_count)
        for a in authors
    ]
    tops.add_row(
        _terms("top hashtags", scores.top_hashtags, prefix="#"),
        _terms("top links", scores.top_links),
        _terms("top authors", top_authors),
    )
    latest = Group(*(alert_line(a) for a in alerts[:5])) if alerts else Text("no alerts", style="dim")
    window = f"{timestamp(scores.window_start)} … {timestamp(scores.window_end)}"
    return Panel(
        Group(
            Text(window, style="dim"),
            head,
            Text(""),
            sentiment_bar(scores.positive_count, scores.neutral_count, scores.negative_count),
            Text(""),
            spark,
            Text(""),
            voice,
            Text(""),
            tops,
            Text(""),
            Text("latest alerts", style="bold"),
            latest,
        ),
        title=f"dashboard of {escape(scores.label)}",
    )


def draft_panel(response: scoring_pb2.ScoreDraftResponse) -> Panel:
    """The predicted sentiment and, per network, length, hashtags, suggestions and best times."""
    parts: list[RenderableType] = []
    head = Text()
    head.append("language ", style="bold")
    head.append(response.language + "   ")
    head.append("sentiment ", style="bold")
    head.append_text(styled(sentiment_label(response.sentiment)))
    head.append(f" ({response.sentiment_confidence:.0%} confident, polarity {response.polarity:+.2f})")
    parts.append(head)
    for advice in response.advice:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        fits = Text("fits", style="green") if advice.fits else Text("too long", style="red")
        grid.add_row("length", Text.assemble(f"{advice.length:,} / {advice.max_length:,}  ", fits))
        grid.add_row(
            "hashtags", f"{advice.hashtag_count} (recommended at most {advice.recommended_max_hashtags})"
        )
        for suggestion in advice.suggestions:
            grid.add_row("advice", Text(suggestion))
        if advice.best_times:
            slots = ", ".join(
                f"{_WEEKDAYS[t.weekday % 7]} {t.hour:02d}:00 UTC "
                f"(mean {t.mean_engagement:,.1f}, {t.posts} posts)"
                for t in advice.best_times
            )
            grid.add_row("best times", escape(slots))
        else:
            grid.add_row("best times", Text("not enough history of this account", style="dim"))
        parts.append(Text(""))
        parts.append(Text(advice.network, style="bold cyan"))
        parts.append(grid)
    if not response.advice:
        parts.append(Text("no network to advise on", style="dim"))
    return Panel(Group(*parts), title="draft score")
