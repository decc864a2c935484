"""``resonanz workspace``: members and roles, the approval policy and campaigns (WorkspaceService)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
import typer
from resonanz.common.v1 import content_pb2

from resonanz_cli import render, render_admin
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled
from resonanz_cli.options import parse_step, parse_timestamp
from resonanz_cli.output import JsonOpt, show, show_all

app = typer.Typer(help="Members and roles, the approval policy and campaigns.", no_args_is_help=True)
member_app = typer.Typer(help="Add, change and remove members.", no_args_is_help=True)
policy_app = typer.Typer(help="Show and set the approval policy.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Create, show and list campaigns.", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(policy_app, name="policy")
app.add_typer(campaigns_app, name="campaigns")


class RoleName(StrEnum):
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


_ROLES = {
    RoleName.EDITOR: workspace_pb2.ROLE_EDITOR,
    RoleName.APPROVER: workspace_pb2.ROLE_APPROVER,
    RoleName.ADMIN: workspace_pb2.ROLE_ADMIN,
}
UserArg = Annotated[str, typer.Argument(metavar="USER", help="The user's id.", show_default=False)]


@app.command("members")
def members(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the workspace's members and their roles (none: the workspace is open to everyone).

    Example:

      resonanz workspace members
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.workspace().ListMembers(
            workspace_pb2.ListMembersRequest(), metadata=clients.metadata, timeout=clients.timeout
        )
    show_all(list(response.members), render_admin.members_table, as_json=json_output)
    if not response.members and not json_output:
        render.stdout().print(
            "open workspace: everyone may do everything until the first member (an admin) is added"
        )


@member_app.command("set")
def member_set(
    ctx: typer.Context,
    user: UserArg,
    role: Annotated[
        RoleName,
        typer.Argument(
            help="editor: create, edit, submit, comment, cancel; approver: also approve and reject; "
            "admin: also members, policy and key rotation.",
            show_default=False,
        ),
    ],
    json_output: JsonOpt = False,
) -> None:
    """Add a member or change their role; the first member of a workspace must be an admin.

    Examples:

      resonanz workspace member set anna admin

      resonanz --as anna workspace member set petra approver
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        member = (
            clients.workspace()
            .SetMemberRole(
                workspace_pb2.SetMemberRoleRequest(user=user, role=_ROLES[role]),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .member
        )
    show(member, lambda m: render_admin.members_table([m]), as_json=json_output)


@member_app.command("remove")
def member_remove(ctx: typer.Context, user: UserArg) -> None:
    """Remove a member from the workspace.

    Example:

      resonanz workspace member remove tom
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        clients.workspace().RemoveMember(
            workspace_pb2.RemoveMemberRequest(user=user), metadata=clients.metadata, timeout=clients.timeout
        )
    render.stdout().print(f"removed member {user}")


@policy_app.command("show")
def policy_show(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Show the approval steps posts go through before they are scheduled.

    Example:

      resonanz workspace policy show
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        policy = (
            clients.workspace()
            .GetApprovalPolicy(
                workspace_pb2.GetApprovalPolicyRequest(), metadata=clients.metadata, timeout=clients.timeout
            )
            .policy
        )
    show(policy, render_admin.policy_panel, as_json=json_output)


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    step: Annotated[
        list[str] | None,
        typer.Option(
            "--step",
            metavar="NAME=N",
            help="A review step passed by N different approvers, in order. Repeatable; none: no review.",
        ),
    ] = None,
    allow_self_approval: Annotated[
        bool, typer.Option("--allow-self-approval", help="Let authors approve their own posts.")
    ] = False,
    review_replies: Annotated[
        bool, typer.Option("--review-replies", help="Replies to mentions go through review too.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Replace the approval policy: the steps in order, self-approval and review of replies.

    Examples:

      resonanz workspace policy set --step brand=1 --step legal=2

      resonanz workspace policy set
    """
    steps = [workspace_pb2.ApprovalStep(name=n, approvals_required=c) for n, c in map(parse_step, step or [])]
    policy = workspace_pb2.ApprovalPolicy(
        steps=steps, allow_self_approval=allow_self_approval, review_replies=review_replies
    )
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        saved = (
            clients.workspace()
            .SetApprovalPolicy(
                workspace_pb2.SetApprovalPolicyRequest(policy=policy),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .policy
        )
    show(saved, render_admin.policy_panel, as_json=json_output)


@campaigns_app.command("create")
def campaign_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The campaign's name.", show_default=False)],
    *,
    description: Annotated[str | None, typer.Option("--description", metavar="TEXT")] = None,
    hashtag: Annotated[
        list[str] | None, typer.Option("--hashtag", metavar="TAG", help="Repeatable, e.g. #summer.")
    ] = None,
    link: Annotated[list[str] | None, typer.Option("--link", metavar="URL", help="Repeatable.")] = None,
    starts: Annotated[
        str | None, typer.Option("--starts", metavar="ISO8601", help="When the campaign starts.")
    ] = None,
    ends: Annotated[
        str | None, typer.Option("--ends", metavar="ISO8601", help="When the campaign ends.")
    ] = None,
    utm_source: Annotated[str | None, typer.Option("--utm-source", metavar="V")] = None,
    utm_medium: Annotated[str | None, typer.Option("--utm-medium", metavar="V")] = None,
    utm_campaign: Annotated[
        str | None, typer.Option("--utm-campaign", metavar="V", help="Default: the campaign's name.")
    ] = None,
    utm_term: Annotated[str | None, typer.Option("--utm-term", metavar="V")] = None,
    utm_content: Annotated[str | None, typer.Option("--utm-content", metavar="V")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--key", "--idempotency-key", metavar="KEY", help="Creating again with it returns the first."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a campaign; its UTM parameters are the defaults of its posts' links.

    Example:

      resonanz workspace campaigns create "Sommer 2026" --hashtag '#sommer' --utm-source newsletter

      resonanz workspace campaigns create "Black Friday" --starts 2026-11-27T00:00Z --ends 2026-11-30T23:00Z
    """
    request = workspace_pb2.CreateCampaignRequest(
        name=name,
        description=description or "",
        hashtags=hashtag or [],
        links=link or [],
        utm=content_pb2.UtmParameters(
            source=utm_source or "",
            medium=utm_medium or "",
            campaign=utm_campaign or "",
            term=utm_term or "",
            content=utm_content or "",
        ),
        idempotency_key=idempotency_key or "",
    )
    start, end = parse_timestamp(starts, param_hint="--starts"), parse_timestamp(ends, param_hint="--ends")
    if start is not None:
        request.starts_at.CopyFrom(start)
    if end is not None:
        request.ends_at.CopyFrom(end)
    if start is not None and end is not None and end.ToNanoseconds() <= start.ToNanoseconds():
        raise typer.BadParameter("--ends must be later than --starts", param_hint="--ends")
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        campaign = (
            clients.workspace()
            .CreateCampaign(request, metadata=clients.metadata, timeout=clients.timeout)
            .campaign
        )
    show(campaign, render_admin.campaign_panel, as_json=json_output)


@campaigns_app.command("get")
def campaign_get(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The campaign's id.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Show one campaign.

    Example:

      resonanz workspace campaigns get 7c1d0e
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        campaign = (
            clients.workspace()
            .GetCampaign(
                workspace_pb2.GetCampaignRequest(campaign_id=campaign_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .campaign
        )
    show(campaign, render_admin.campaign_panel, as_json=json_output)


@campaigns_app.command("list")
def campaign_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=10_000, help="Show at most this many.")
    ] = 50,
    json_output: JsonOpt = False,
) -> None:
    """List the workspace's campaigns.

    Example:

      resonanz workspace campaigns list
    """
    clients = clients_of(ctx)
    campaigns: list[content_pb2.Campaign] = []
    token = ""
    with handled("publishing", clients.config.publishing_addr):
        while len(campaigns) < limit:
            response = clients.workspace().ListCampaigns(
                workspace_pb2.ListCampaignsRequest(
                    page_size=min(500, limit - len(campaigns)), page_token=token
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            campaigns.extend(response.campaigns)
            token = response.next_page_token
            if not token or not response.campaigns:
                break
    show_all(campaigns[:limit], render_admin.campaigns_table, as_json=json_output)
