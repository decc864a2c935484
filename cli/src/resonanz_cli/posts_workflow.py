"""``resonanz posts`` review workflow, comments, audit log and engagement actions (PublishingService).

submit / approve / reject / cancel move a post through its lifecycle; comment / comments discuss it;
audit shows who did what when; delete-published and reply act on the networks.
"""

from __future__ import annotations

from typing import Annotated

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import typer
from resonanz.common.v1 import content_pb2

from resonanz_cli import render
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled
from resonanz_cli.options import parse_target
from resonanz_cli.output import JsonOpt, show, show_all

PostIdArg = Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)]


def submit(ctx: typer.Context, post_id: PostIdArg, json_output: JsonOpt = False) -> None:
    """Submit a draft: into review, or straight to scheduled when the workspace needs no approvals.

    Example:

      resonanz posts submit 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .SubmitPost(
                publishing_pb2.SubmitPostRequest(post_id=post_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def approve(
    ctx: typer.Context,
    post_id: PostIdArg,
    note: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="A note kept with the approval.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Approve the post's current review step; the last step's approval schedules it.

    Example:

      resonanz --as petra posts approve 01J2Z8K4V6 --note "legal ok"
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .ApprovePost(
                publishing_pb2.ApprovePostRequest(post_id=post_id, note=note or ""),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def reject(
    ctx: typer.Context,
    post_id: PostIdArg,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="What the author has to change (kept as a comment).",
            show_default=False,
        ),
    ],
    json_output: JsonOpt = False,
) -> None:
    """Send a post in review back to draft with a reason; the approvals collected so far are dropped.

    Example:

      resonanz --as petra posts reject 01J2Z8K4V6 --reason "Preis fehlt"
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .RejectPost(
                publishing_pb2.RejectPostRequest(post_id=post_id, reason=reason),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def cancel(
    ctx: typer.Context,
    post_id: PostIdArg,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why (shown in the audit log).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Cancel every target of the post that has not started publishing.

    Example:

      resonanz posts cancel 01J2Z8K4V6 --reason "Kampagne verschoben"
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .CancelPost(
                publishing_pb2.CancelPostRequest(post_id=post_id, reason=reason or ""),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def comment(
    ctx: typer.Context,
    post_id: PostIdArg,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The comment.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Comment on a post (e.g. during review).

    Example:

      resonanz posts comment 01J2Z8K4V6 "Bitte noch das Bild tauschen"
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        added = (
            clients.publishing()
            .AddComment(
                publishing_pb2.AddCommentRequest(post_id=post_id, text=text),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .comment
        )
    show(added, lambda c: render.comments_table([c], post_id=post_id), as_json=json_output)


def comments(ctx: typer.Context, post_id: PostIdArg, json_output: JsonOpt = False) -> None:
    """Show a post's comments, oldest first (rejection reasons included).

    Example:

      resonanz posts comments 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.publishing().ListComments(
            publishing_pb2.ListCommentsRequest(post_id=post_id),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show_all(
        list(response.comments), lambda cs: render.comments_table(cs, post_id=post_id), as_json=json_output
    )


def audit(
    ctx: typer.Context,
    post_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]", help="Only this post; default the whole workspace.", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=100_000, help="Show at most this many.")
    ] = 100,
    json_output: JsonOpt = False,
) -> None:
    """Show who did what when, oldest first: for one post or the whole workspace.

    Examples:

      resonanz posts audit 01J2Z8K4V6

      resonanz posts audit --limit 1000
    """
    clients = clients_of(ctx)
    events: list[publishing_pb2.AuditEvent] = []
    token = ""
    with handled("publishing", clients.config.publishing_addr):
        while len(events) < limit:
            response = clients.publishing().ListAuditEvents(
                publishing_pb2.ListAuditEventsRequest(
                    post_id=post_id or "", page_size=min(500, limit - len(events)), page_token=token
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            events.extend(response.events)
            token = response.next_page_token
            if not token or not response.events:
                break
    title = f"audit log of post {post_id}" if post_id else "audit log of the workspace"
    shown = events[:limit]
    title = f"{title}: {len(shown)} event(s)"
    show_all(shown, lambda es: render.audit_table(es, title=title), as_json=json_output)


def delete_published(
    ctx: typer.Context,
    post_id: PostIdArg,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="NETWORK:ACCOUNT",
            help="Only from this target (repeatable); default every published target.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Delete a published post from the networks it was published on.

    Examples:

      resonanz posts delete-published 01J2Z8K4V6

      resonanz posts delete-published 01J2Z8K4V6 --target simulated:@acme_de
    """
    targets = [parse_target(t) for t in target or []]
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .DeletePublishedPost(
                publishing_pb2.DeletePublishedPostRequest(
                    post_id=post_id,
                    targets=[publishing_pb2.TargetSpec(network=n, account=a) for n, a in targets],
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def reply(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The reply.", show_default=False)],
    *,
    network: Annotated[
        str, typer.Option("--network", metavar="NETWORK", help="Network of the mention.", show_default=False)
    ],
    account: Annotated[
        str,
        typer.Option("--account", metavar="ACCOUNT", help="Your account that replies.", show_default=False),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to", metavar="EXTERNAL_ID", help="The network's id of the mention or post.", show_default=False
        ),
    ],
    media_id: Annotated[
        list[str] | None,
        typer.Option("--media-id", metavar="ID", help="Attach uploaded media. Repeatable."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--key", "--idempotency-key", metavar="KEY", help="Replying again with it sends nothing new."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Reply to a mention from one of your accounts; published like a post (never twice).

    Example:

      resonanz posts reply --network simulated --account @acme --to 1789 "Danke! Wir melden uns per DM."
    """
    network_name, account_name = reply_target(network, account)
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing()
            .ReplyToMention(
                publishing_pb2.ReplyToMentionRequest(
                    network=network_name,
                    account=account_name,
                    in_reply_to=to,
                    text=text,
                    media=[content_pb2.MediaItem(id=m) for m in media_id or []],
                    idempotency_key=idempotency_key or "",
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .post
        )
    show(post, render.post_panel, as_json=json_output)


def reply_target(network: str, account: str) -> tuple[str, str]:
    """``--network`` and ``--account`` checked like a ``--target``, naming the option at fault."""
    try:
        return parse_target(f"{network}:{account}")
    except typer.BadParameter as error:
        hint = "--account" if network.strip() and not account.strip() else "--network"
        raise typer.BadParameter(error.message.replace("--target", hint), param_hint=hint) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``posts`` group."""
    app.command("submit")(submit)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("cancel")(cancel)
    app.command("comment")(comment)
    app.command("comments")(comments)
    app.command("audit")(audit)
    app.command("delete-published")(delete_published)
    app.command("reply")(reply)
