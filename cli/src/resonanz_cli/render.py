"""Rich renderings of posts, queries, mentions, scores and plugin manifests.

Pure functions from protobuf messages (or manifests) to Rich renderables; commands print them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2, mention_pb2, score_pb2
from resonanz_sdk.manifest import Manifest
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_STATUS_STYLE = {
    "draft": "dim",
    "in_review": "magenta",
    "approved": "blue",
    "published": "green",
    "partly_published": "yellow",
    "failed": "red",
    "cancelled": "dim",
    "publishing": "cyan",
    "queued": "cyan",
    "scheduled": "blue",
    "pending": "blue",
    "connected": "green",
    "needs_reauth": "red",
    "disconnected": "dim",
    "created": "green",
    "already existed": "yellow",
    "would create": "blue",
    "positive": "green",
    "neutral": "yellow",
    "negative": "red",
}


def stdout() -> Console:
    """A console on the current ``sys.stdout`` (looked up per call, so test runners can capture it)."""
    return Console(highlight=False)


def enum_label(name: str, prefix: str) -> str:
    """``POST_STATUS_PARTLY_PUBLISHED`` -> ``partly_published``; the unspecified value -> ``-``."""
    short = name.removeprefix(prefix).lower()
    return "-" if short == "unspecified" else short


def styled(label: str) -> Text:
    return Text(label, style=_STATUS_STYLE.get(label, ""))


def post_status(post: content_pb2.Post) -> str:
    return enum_label(content_pb2.PostStatus.Name(post.status), "POST_STATUS_")


def target_status(target: content_pb2.PostTarget) -> str:
    return enum_label(content_pb2.TargetStatus.Name(target.status), "TARGET_STATUS_")


def timestamp(ts: Timestamp) -> str:
    """ISO 8601 in UTC, or ``-`` when the timestamp is unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def shorten(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _target_note(t: content_pb2.PostTarget) -> Text:
    note = Text(t.error, style="red") if t.error else Text(t.url)
    if t.HasField("next_attempt_at"):
        note.append(f" (next attempt {timestamp(t.next_attempt_at)})", style="yellow")
    if t.HasField("deleted_at"):
        note.append(f" (deleted {timestamp(t.deleted_at)})", style="dim")
    return note


def targets_table(targets: Iterable[content_pb2.PostTarget]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("network", "account", "status", "due", "attempts", "published", "url / error"):
        table.add_column(column)
    for t in targets:
        table.add_row(
            escape(t.network),
            escape(t.account),
            styled(target_status(t)),
            timestamp(t.scheduled_at),
            str(t.attempts),
            timestamp(t.published_at),
            _target_note(t),
        )
    return table


def utm_text(utm: content_pb2.UtmParameters) -> str:
    """``source=news, medium=social`` for the UTM parameters that are set."""
    return ", ".join(
        f"{name}={getattr(utm, name)}"
        for name in ("source", "medium", "campaign", "term", "content")
        if getattr(utm, name)
    )


def media_text(item: content_pb2.MediaItem) -> str:
    kind = enum_label(content_pb2.MediaType.Name(item.type), "MEDIA_TYPE_")
    parts = [
        item.id or item.uri,
        kind,
        item.mime_type,
        f"{item.size_bytes:,} bytes" if item.size_bytes else "",
    ]
    text = " ".join(p for p in parts if p and p != "-")
    return text + (f' alt="{item.alt_text}"' if item.alt_text else "")


def schedule_text(post: content_pb2.Post) -> str:
    """How the post's schedule was asked for: at once, at a fixed time (with the wall-clock time and
    zone of a local-time schedule) or in the next free queue slots; ``-`` when the service does not say."""
    mode = enum_label(content_pb2.ScheduleMode.Name(post.schedule_mode), "SCHEDULE_MODE_")
    if post.schedule_mode == content_pb2.SCHEDULE_MODE_NOW:
        return "now (as soon as it is scheduled)"
    if post.schedule_mode == content_pb2.SCHEDULE_MODE_NEXT_FREE_SLOT:
        return "next free slot of each account's queue"
    if post.schedule_mode == content_pb2.SCHEDULE_MODE_AT:
        if post.time_zone:
            return f"at {_local(post.scheduled_at, post.time_zone)} {post.time_zone} (local time)"
        return "at a fixed time"
    return mode


def _local(ts: Timestamp, time_zone: str) -> str:
    """``ts`` as wall-clock time in ``time_zone`` (``-`` when unset; UTC when the zone is unknown here)."""
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    try:
        zone: tzinfo = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return ts.ToDatetime(tzinfo=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def post_panel(post: content_pb2.Post) -> Panel:
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold")
    meta.add_column()
    meta.add_row("status", styled(post_status(post)))
    meta.add_row("text", Text(post.text))
    for variant in post.variants:
        meta.add_row(f"text on {escape(variant.network)}", Text(variant.text))
    for item in post.media:
        meta.add_row("media", escape(media_text(item)))
    meta.add_row("scheduled", timestamp(post.scheduled_at))
    if post.schedule_mode != content_pb2.SCHEDULE_MODE_UNSPECIFIED:
        meta.add_row("schedule", escape(schedule_text(post)))
    meta.add_row(
        "created", timestamp(post.created_at) + (f" by {post.created_by}" if post.created_by else "")
    )
    if post.in_reply_to:
        meta.add_row("in reply to", escape(post.in_reply_to))
    if post.approval_steps:
        meta.add_row(
            "review", f"{post.approval_steps} step(s); {len(post.approvals)} approval(s) in this round"
        )
    for approval in post.approvals:
        note = f": {approval.note}" if approval.note else ""
        meta.add_row(
            "approved",
            escape(
                f"step {approval.step + 1} by {approval.approver} at {timestamp(approval.approved_at)}{note}"
            ),
        )
    if post.labels:
        meta.add_row("labels", escape(", ".join(post.labels)))
    if post.campaign_id:
        meta.add_row("campaign", escape(post.campaign_id))
    if utm_text(post.utm):
        meta.add_row("utm", escape(utm_text(post.utm)))
    if post.idempotency_key:
        meta.add_row("idempotency key", escape(post.idempotency_key))
    return Panel(Group(meta, Text(""), targets_table(post.targets)), title=f"post {escape(post.id)}")


def watch_line(post: content_pb2.Post) -> Text:
    """One line per WatchPost update: the post status and each target's status."""
    line = Text()
    line.append(timestamp(post.updated_at) + "  ", style="dim")
    line.append_text(styled(post_status(post)))
    for t in post.targets:
        line.append(f"  {t.network}:{t.account}=")
        line.append_text(styled(target_status(t)))
    return line


def posts_table(posts: Sequence[content_pb2.Post]) -> Table:
    table = Table(title=f"{len(posts)} post(s)")
    for column in ("id", "status", "targets", "scheduled", "created", "labels", "text"):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis")
    for p in posts:
        targets = ", ".join(f"{t.network}:{t.account}" for t in p.targets)
        table.add_row(
            escape(p.id),
            styled(post_status(p)),
            escape(targets),
            timestamp(p.scheduled_at),
            timestamp(p.created_at),
            escape(", ".join(p.labels)),
            Text(shorten(p.text, 50)),
        )
    return table


def comments_table(comments: Sequence[publishing_pb2.Comment], *, post_id: str) -> Table:
    table = Table(title=f"{len(comments)} comment(s) on post {escape(post_id)}")
    for column in ("at", "author", "text"):
        table.add_column(column)
    for c in comments:
        table.add_row(timestamp(c.created_at), escape(c.author), Text(c.text))
    return table


def audit_table(events: Sequence[publishing_pb2.AuditEvent], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("at", "actor", "action", "post", "status", "detail"):
        table.add_column(column, overflow="fold" if column == "post" else "ellipsis")
    for e in events:
        before = enum_label(content_pb2.PostStatus.Name(e.from_status), "POST_STATUS_")
        after = enum_label(content_pb2.PostStatus.Name(e.to_status), "POST_STATUS_")
        change = (
            "" if before == after == "-" else (after if before in ("-", after) else f"{before} → {after}")
        )
        table.add_row(
            timestamp(e.at), escape(e.actor), escape(e.action), escape(e.post_id), change, Text(e.detail)
        )
    return table


def role_label(role: mention_pb2.QueryRole.ValueType) -> str:
    return enum_label(mention_pb2.QueryRole.Name(role), "QUERY_ROLE_")


def queries_table(queries: Sequence[mention_pb2.ListeningQuery]) -> Table:
    table = Table(title=f"{len(queries)} listening quer{'y' if len(queries) == 1 else 'ies'}")
    for column in ("id", "name", "label", "role", "expression", "languages", "networks", "enabled"):
        table.add_column(column, overflow="fold")
    for q in queries:
        table.add_row(
            escape(q.id),
            escape(q.name),
            escape(q.label),
            role_label(q.role),
            Text(q.expression),
            escape(", ".join(q.languages) or "all"),
            escape(", ".join(q.networks) or "all"),
            "yes" if q.enabled else "no",
        )
    return table


def mention_line(mention: mention_pb2.Mention) -> Text:
    """One line per streamed mention: when, where, who, what, and the labels it matched."""
    line = Text()
    line.append(timestamp(mention.published_at) + "  ", style="dim")
    line.append(f"{mention.network:<10} ", style="cyan")
    line.append(f"@{mention.author.handle}", style="bold")
    line.append(f" ({mention.author.followers:,})  ", style="dim")
    line.append(shorten(mention.text, 160))
    if mention.labels:
        line.append(f"  [{', '.join(mention.labels)}]", style="magenta")
    return line


def mentions_table(mentions: Sequence[mention_pb2.Mention], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("published", "network", "author", "text", "likes", "shares", "labels"):
        table.add_column(column)
    for m in mentions:
        table.add_row(
            timestamp(m.published_at),
            escape(m.network),
            escape("@" + m.author.handle),
            Text(shorten(m.text, 70)),
            str(m.engagement.likes),
            str(m.engagement.shares),
            escape(", ".join(m.labels)),
        )
    return table


def sentiment_label(sentiment: score_pb2.Sentiment.ValueType) -> str:
    return enum_label(score_pb2.Sentiment.Name(sentiment), "SENTIMENT_")


def scored_mentions_table(items: Sequence[scoring_pb2.ScoredMention], *, label: str) -> Table:
    table = Table(title=f"scored mentions of {escape(label)}")
    for column in ("published", "network", "author", "sentiment", "polarity", "reach", "engagement", "text"):
        table.add_column(column)
    for item in items:
        m, s = item.mention, item.score
        sentiment = sentiment_label(s.sentiment)
        table.add_row(
            timestamp(m.published_at),
            escape(m.network),
            escape("@" + m.author.handle),
            styled(sentiment),
            f"{s.polarity:+.2f}",
            f"{s.estimated_reach:,}",
            f"{s.engagement:,}",
            Text(shorten(m.text, 60)),
        )
    return table


def _terms_table(title: str, terms: Sequence[score_pb2.TermCount]) -> Table:
    table = Table(title=title, box=None)
    table.add_column("term")
    table.add_column("count", justify="right")
    for term in terms:
        table.add_row(escape(term.term), f"{term.count:,}")
    if not terms:
        table.add_row("-", "")
    return table


def brand_scores_panel(scores: score_pb2.BrandScores) -> Panel:
    figures = Table.grid(padding=(0, 2))
    figures.add_column(style="bold")
    figures.add_column(justify="right")
    figures.add_row("window", f"{timestamp(scores.window_start)} … {timestamp(scores.window_end)}")
    figures.add_row("mentions", f"{scores.mention_count:,}")
    figures.add_row(
        "positive / neutral / negative",
        f"{scores.positive_count:,} / {scores.neutral_count:,} / {scores.negative_count:,}",
    )
    figures.add_row("net sentiment", f"{scores.net_sentiment:+.2f}")
    figures.add_row("reach", f"{scores.total_reach:,}")
    figures.add_row("engagement", f"{scores.total_engagement:,}")
    figures.add_row("impressions", f"{scores.total_impressions:,}")
    figures.add_row("reputation index", f"{scores.reputation_index:+.1f}")
    figures.add_row("share of voice", f"{scores.share_of_voice:.1%}")
    change = f"{scores.mention_count_delta:+.0%}" if scores.previous_mention_count else "no mentions before"
    figures.add_row(
        "previous window",
        f"{scores.previous_mention_count:,} mentions ({change}), "
        f"net sentiment {scores.previous_net_sentiment:+.2f}",
    )
    tops = Table.grid(padding=(0, 4))
    tops.add_row(
        _terms_table("top hashtags", scores.top_hashtags),
        _terms_table("top links", scores.top_links),
        _terms_table("top authors", scores.top_authors),
    )
    return Panel(Group(figures, Text(""), tops), title=f"scores of {escape(scores.label)}")


def manifest_panel(plugin: str, manifest: Manifest) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("network", escape(manifest.network))
    grid.add_row("plugin", escape(plugin))
    grid.add_row("features", escape(", ".join(sorted(f.value for f in manifest.features)) or "-"))
    text = f"up to {manifest.text.max_length:,} ({manifest.text.counting.value}"
    if manifest.text.url_length is not None:
        text += f", URLs count {manifest.text.url_length}"
    grid.add_row("text", escape(text + ")"))
    media = manifest.media
    if media.max_items:
        kinds = ", ".join(sorted(k.value for k in media.allowed)) or "-"
        grid.add_row(
            "media",
            escape(f"up to {media.max_items} ({kinds})" + ("; required" if media.required else "")),
        )
    else:
        grid.add_row("media", "none")
    for limit in manifest.rate_limits:
        grid.add_row(
            "rate limit",
            escape(f"{limit.operation}: {limit.requests} per {limit.per_seconds:g}s per {limit.scope.value}"),
        )
    if manifest.docs_url:
        grid.add_row("docs", escape(manifest.docs_url))
    if manifest.notes:
        grid.add_row("notes", Text(manifest.notes))
    return Panel(grid, title=escape(manifest.display_name))


def print_all(console: Console, renderables: Iterable[RenderableType]) -> None:
    for renderable in renderables:
        console.print(renderable)
