"""Rich renderings of accounts, posting queues, workspace members, the approval policy, campaigns and
stored media. Pure functions from protobuf messages to Rich renderables; commands print them.

No rendering here ever shows a credential value: accounts carry only the names of their fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import resonanz.publishing.v1.account_service_pb2 as account_pb2
import resonanz.publishing.v1.media_service_pb2 as media_pb2
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
from resonanz.common.v1 import content_pb2
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from resonanz_cli.options import WEEKDAY_NAMES
from resonanz_cli.render import enum_label, media_text, styled, timestamp, utm_text


def account_status(account: content_pb2.Account) -> str:
    return enum_label(content_pb2.AccountStatus.Name(account.status), "ACCOUNT_STATUS_")


def accounts_table(accounts: Sequence[content_pb2.Account]) -> Table:
    table = Table(title=f"{len(accounts)} account(s)")
    for column in ("network", "handle", "name", "status", "credentials", "connected", "note"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            escape(a.network),
            escape(a.handle),
            escape(a.display_name),
            styled(account_status(a)),
            escape(", ".join(a.credential_fields) or "-"),
            timestamp(a.connected_at),
            Text(a.status_reason, style="red") if a.status_reason else Text(""),
        )
    return table


def account_panel(account: content_pb2.Account) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("status", styled(account_status(account)))
    if account.status_reason:
        grid.add_row("reason", Text(account.status_reason, style="red"))
    grid.add_row("name", escape(account.display_name or "-"))
    grid.add_row("credentials", escape(", ".join(account.credential_fields) or "-") + " (values never shown)")
    if account.followers:
        grid.add_row("followers", f"{account.followers:,}")
    grid.add_row("connected", timestamp(account.connected_at))
    grid.add_row("updated", timestamp(account.updated_at))
    return Panel(grid, title=f"account {escape(account.network)}:{escape(account.handle)}")


def weekday_name(weekday: int) -> str:
    return WEEKDAY_NAMES[weekday - 1] if 1 <= weekday <= 7 else f"day {weekday}"


def queue_panel(queue: account_pb2.PostingQueue) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("time zone", escape(queue.time_zone or "-"))
    slots = sorted(queue.slots, key=lambda s: (s.weekday, s.time))
    grid.add_row("slots", escape(", ".join(f"{weekday_name(s.weekday)} {s.time}" for s in slots) or "none"))
    upcoming = ", ".join(timestamp(t) for t in queue.upcoming_free_slots)
    grid.add_row("next free", escape(upcoming or "-"))
    title = f"posting queue of {escape(queue.account.network)}:{escape(queue.account.handle)}"
    return Panel(grid, title=title)


def role_name(role: workspace_pb2.Role.ValueType) -> str:
    return enum_label(workspace_pb2.Role.Name(role), "ROLE_")


def members_table(members: Sequence[workspace_pb2.Member]) -> Table:
    table = Table(title=f"{len(members)} member(s)")
    for column in ("user", "role", "added"):
        table.add_column(column)
    for m in members:
        table.add_row(escape(m.user), escape(role_name(m.role)), timestamp(m.added_at))
    return table


def policy_panel(policy: workspace_pb2.ApprovalPolicy) -> Panel:
    steps = Table(box=None, pad_edge=False)
    for column in ("step", "name", "approvals required"):
        steps.add_column(column)
    for i, step in enumerate(policy.steps, start=1):
        steps.add_row(str(i), escape(step.name), str(step.approvals_required))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "steps", str(len(policy.steps)) + ("" if policy.steps else " (posts are scheduled when submitted)")
    )
    grid.add_row("self-approval", "allowed" if policy.allow_self_approval else "not allowed (four eyes)")
    grid.add_row("replies", "reviewed" if policy.review_replies else "sent without review")
    parts = [grid, Text(""), steps] if policy.steps else [grid]
    return Panel(Group(*parts), title="approval policy")


def campaigns_table(campaigns: Sequence[content_pb2.Campaign]) -> Table:
    table = Table(title=f"{len(campaigns)} campaign(s)")
    for column in ("id", "name", "starts", "ends", "hashtags", "utm"):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis")
    for c in campaigns:
        table.add_row(
            escape(c.id),
            escape(c.name),
            timestamp(c.starts_at),
            timestamp(c.ends_at),
            escape(" ".join(c.hashtags)),
            escape(utm_text(c.utm)),
        )
    return table


def campaign_panel(campaign: content_pb2.Campaign) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("name", escape(campaign.name))
    if campaign.description:
        grid.add_row("description", Text(campaign.description))
    grid.add_row("runs", f"{timestamp(campaign.starts_at)} … {timestamp(campaign.ends_at)}")
    if campaign.hashtags:
        grid.add_row("hashtags", escape(" ".join(campaign.hashtags)))
    for link in campaign.links:
        grid.add_row("link", escape(link))
    if utm_text(campaign.utm):
        grid.add_row("utm", escape(utm_text(campaign.utm)))
    grid.add_row("created", timestamp(campaign.created_at))
    return Panel(grid, title=f"campaign {escape(campaign.id)}")


def media_panel(media: media_pb2.StoredMedia) -> Panel:
    item = media.item
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("id", escape(item.id))
    grid.add_row("media", escape(media_text(item)))
    grid.add_row("file", escape(media.file_name or "-"))
    if item.width or item.height:
        grid.add_row("size", f"{item.width} x {item.height} px")
    if item.duration_seconds:
        grid.add_row("duration", f"{item.duration_seconds:g} s")
    grid.add_row("sha256", escape(media.sha256))
    grid.add_row("uri", escape(item.uri))
    grid.add_row("created", timestamp(media.created_at))
    return Panel(grid, title=f"media {escape(item.id)}")
