"""``resonanz posts``: create, update, list, get and watch posts (PublishingService).

The review workflow, comments, the audit log and engagement actions are in :mod:`resonanz_cli.posts_workflow`,
the CSV import in :mod:`resonanz_cli.posts_import`; both register their commands on :data:`app`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import typer
from resonanz.common.v1 import content_pb2

from resonanz_cli import posts_import, posts_workflow, render
from resonanz_cli.client import Clients, clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, fail, handled
from resonanz_cli.options import parse_target, parse_timestamp, parse_variant
from resonanz_cli.output import JsonOpt, as_dict, print_json, show, show_all
from resonanz_cli.post_options import (
    CLEARABLE,
    PostOptions,
    apply,
    clear,
    parse_schedule,
    request_from_post,
    utm_of,
)

app = typer.Typer(help="Create, review, list, show, watch and import posts.", no_args_is_help=True)

_STATUSES = [
    render.enum_label(name, "POST_STATUS_")
    for name, _ in content_pb2.PostStatus.items()
    if name != "POST_STATUS_UNSPECIFIED"
]

# Options shared by ``create`` and ``update`` (Typer reads the same declarations for both).
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="ISO8601",
        help="Publish at this ISO 8601 time, e.g. 2026-12-01T09:30+01:00 (local time without an offset).",
    ),
]
LocalOpt = Annotated[
    str | None,
    typer.Option(
        "--local", metavar="DATETIME", help="Publish at this wall-clock time in --tz, e.g. 2026-12-01T09:30."
    ),
]
TzOpt = Annotated[
    str | None, typer.Option("--tz", metavar="ZONE", help="IANA time zone of --local, e.g. Europe/Berlin.")
]
NextSlotOpt = Annotated[
    bool,
    typer.Option("--next-slot", help="Each target goes into the next free slot of its account's queue."),
]
LabelOpt = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", metavar="LABEL", help="A label for the post. Repeat for several."),
]
CampaignOpt = Annotated[
    str | None, typer.Option("--campaign", metavar="ID", help="Campaign id the post belongs to.")
]
MediaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--media-id", metavar="ID", help="Attach uploaded media (id from 'media upload'). Repeat for several."
    ),
]
VariantOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        metavar="NETWORK=TEXT",
        help="Text for one network instead of --text, e.g. simulated='Hi!'. Repeat for several.",
    ),
]
UtmSourceOpt = Annotated[str | None, typer.Option("--utm-source", metavar="V", help="utm_source of links.")]
UtmMediumOpt = Annotated[str | None, typer.Option("--utm-medium", metavar="V", help="utm_medium of links.")]
UtmCampaignOpt = Annotated[
    str | None, typer.Option("--utm-campaign", metavar="V", help="utm_campaign of links.")
]
UtmTermOpt = Annotated[str | None, typer.Option("--utm-term", metavar="V", help="utm_term of links.")]
UtmContentOpt = Annotated[
    str | None, typer.Option("--utm-content", metavar="V", help="utm_content of links.")
]


def _watch(clients: Clients, post_id: str, *, as_json: bool = False) -> content_pb2.Post | None:
    """Print a line per WatchPost update (with --json: the post on one line) until the post is final;
    return the last post seen."""
    console = render.stdout()
    stub = clients.publishing()
    last: content_pb2.Post | None = None
    stream = stub.WatchPost(publishing_pb2.WatchPostRequest(post_id=post_id), metadata=clients.metadata)
    try:
        for response in stream:
            last = response.post
            if as_json:
                print_json(as_dict(last), indent=None)
            else:
                console.print(render.watch_line(last), soft_wrap=True)
    except KeyboardInterrupt:
        stream.cancel()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return last


def _options(
    *,
    text: str | None,
    target: list[str] | None,
    at: str | None,
    local: str | None,
    tz: str | None,
    next_slot: bool,
    label: list[str] | None,
    campaign: str | None,
    media_id: list[str] | None,
    variant: list[str] | None,
    utm: dict[str, str],
) -> PostOptions:
    """Parse the shared options; everything not given stays ``None``."""
    return PostOptions(
        text=text,
        targets=[parse_target(t) for t in target] if target else None,
        media_ids=list(media_id) if media_id else None,
        variants=[parse_variant(v) for v in variant] if variant else None,
        campaign_id=campaign,
        labels=list(label) if label else None,
        utm=utm,
        schedule=parse_schedule(at=at, local=local, tz=tz, next_slot=next_slot),
    )


@app.command("create")
def create(
    ctx: typer.Context,
    *,
    text: Annotated[
        str, typer.Option("--text", "-t", metavar="TEXT", help="The post's text.", show_default=False)
    ],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            metavar="NETWORK:ACCOUNT",
            help="NETWORK:ACCOUNT to publish to, e.g. simulated:@acme. Repeat for several.",
            show_default=False,
        ),
    ],
    at: AtOpt = None,
    local: LocalOpt = None,
    tz: TzOpt = None,
    next_slot: NextSlotOpt = False,
    label: LabelOpt = None,
    campaign: CampaignOpt = None,
    media_id: MediaOpt = None,
    variant: VariantOpt = None,
    utm_source: UtmSourceOpt = None,
    utm_medium: UtmMediumOpt = None,
    utm_campaign: UtmCampaignOpt = None,
    utm_term: UtmTermOpt = None,
    utm_content: UtmContentOpt = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="Keep it as a draft (submit it later with 'posts submit').")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--key",
            "--idempotency-key",
            metavar="KEY",
            help="Creating again with the same key returns the first post.",
        ),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the post until it is final.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Create a post: submitted at once (into review when the workspace requires approvals) or a draft.

    Without --at, --local or --next-slot it is published as soon as it is scheduled.

    Examples:

      resonanz posts create --text "Hallo Welt" --target simulated:@acme

      resonanz posts create -t "Sale!" --target simulated:@acme --target simulated:@acme_de --label summer

      resonanz posts create -t "Moin" --target simulated:@acme --local 2026-12-01T09:30 --tz Europe/Berlin

      resonanz posts create -t "Neu: https://acme.example" --target simulated:@acme --next-slot --draft

      resonanz posts create -t "Sieh mal" --target simulated:@acme --media-id 3f2a9c --utm-campaign launch
    """
    options = _options(
        text=text,
        target=target,
        at=at,
        local=local,
        tz=tz,
        next_slot=next_slot,
        label=label,
        campaign=campaign,
        media_id=media_id,
        variant=variant,
        utm=utm_of(
            source=utm_source, medium=utm_medium, campaign=utm_campaign, term=utm_term, content=utm_content
        ),
    )
    if draft and watch:
        raise typer.BadParameter("a draft is not published until it is submitted", param_hint="--watch")
    options.draft = draft
    options.idempotency_key = idempotency_key
    request = apply(options, publishing_pb2.CreatePostRequest())
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing().CreatePost(request, metadata=clients.metadata, timeout=clients.timeout).post
        )
        show(post, render.post_panel, as_json=json_output)
        if watch:
            final = _watch(clients, post.id, as_json=json_output)
            if final is not None and not json_output:
                render.stdout().print(render.post_panel(final))


@app.command("update")
def update(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)],
    *,
    text: Annotated[
        str | None, typer.Option("--text", "-t", metavar="TEXT", help="The new text.", show_default=False)
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", metavar="NETWORK:ACCOUNT", help="Replace the targets with these. Repeatable."
        ),
    ] = None,
    at: AtOpt = None,
    local: LocalOpt = None,
    tz: TzOpt = None,
    next_slot: NextSlotOpt = False,
    label: LabelOpt = None,
    campaign: CampaignOpt = None,
    media_id: MediaOpt = None,
    variant: VariantOpt = None,
    utm_source: UtmSourceOpt = None,
    utm_medium: UtmMediumOpt = None,
    utm_campaign: UtmCampaignOpt = None,
    utm_term: UtmTermOpt = None,
    utm_content: UtmContentOpt = None,
    now: Annotated[
        bool, typer.Option("--now", help="Publish as soon as it is scheduled (drops its time or slots).")
    ] = False,
    clear_fields: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            metavar="FIELD",
            help=f"Empty a field before applying the other options: {', '.join(CLEARABLE)}. Repeatable.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Change a post that has not started publishing; what you leave out stays as it is.

    A repeatable option (--target, --label, --media-id, --variant) replaces the whole list. Without a
    schedule option the post keeps the schedule it was given: at once, its time (a local time stays
    that wall-clock time in its zone) or the next free queue slots; a draft or post in review whose
    time has passed needs --now, --next-slot, --at or --local. A post that was in review, approved or
    scheduled goes back into review when the workspace requires approvals.

    Examples:

      resonanz posts update 01J2Z8K4V6 --text "Hallo Welt, jetzt mit Link https://acme.example"

      resonanz posts update 01J2Z8K4V6 --local 2026-12-02T10:00 --tz Europe/Berlin --label winter

      resonanz posts update 01J2Z8K4V6 --clear media --clear labels
    """
    clear_fields = clear_fields or []
    for field in clear_fields:
        if field not in CLEARABLE:
            raise typer.BadParameter(f"{field!r} is not one of {', '.join(CLEARABLE)}", param_hint="--clear")
    if now and (at or local or next_slot):
        raise typer.BadParameter("give --now or a time, not both", param_hint="--now")
    options = _options(
        text=text,
        target=target,
        at=at,
        local=local,
        tz=tz,
        next_slot=next_slot,
        label=label,
        campaign=campaign,
        media_id=media_id,
        variant=variant,
        utm=utm_of(
            source=utm_source, medium=utm_medium, campaign=utm_campaign, term=utm_term, content=utm_content
        ),
    )
    clients = clients_of(ctx)
    stub = clients.publishing()
    with handled("publishing", clients.config.publishing_addr):
        current = stub.GetPost(
            publishing_pb2.GetPostRequest(post_id=post_id), metadata=clients.metadata, timeout=clients.timeout
        ).post
        request, schedule_problem = request_from_post(current, datetime.now(UTC))
        if schedule_problem and not now and options.schedule is None and "schedule" not in clear_fields:
            fail(
                f"post {post_id} {schedule_problem}: say whether it goes out at once (--now) or into "
                "the next free queue slots (--next-slot), or give --at / --local"
            )
        for field in clear_fields:
            clear(request, field)
        apply(options, request)
        if now:
            clear(request, "schedule")
        post = stub.UpdatePost(
            publishing_pb2.UpdatePostRequest(post_id=post_id, post=request),
            metadata=clients.metadata,
            timeout=clients.timeout,
        ).post
    show(post, render.post_panel, as_json=json_output)


def _status_value(status: str | None) -> content_pb2.PostStatus.ValueType:
    if status is None:
        return content_pb2.POST_STATUS_UNSPECIFIED
    key = status.strip().lower().replace("-", "_")
    if key not in _STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(_STATUSES)}", param_hint="--status")
    return content_pb2.PostStatus.Value("POST_STATUS_" + key.upper())


@app.command("list")
def list_posts(
    ctx: typer.Context,
    *,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", metavar="STATUS", help=f"Only posts in this status: {', '.join(_STATUSES)}."
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", "-l", metavar="LABEL", help="Only posts with this label.")
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", metavar="NETWORK", help="Only posts with a target on this network."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", metavar="ACCOUNT", help="Only posts to this account (needs --network)."),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", metavar="ID", help="Only posts of this campaign.")
    ] = None,
    scheduled_from: Annotated[
        str | None,
        typer.Option("--from", metavar="ISO8601", help="Only posts scheduled at or after this time."),
    ] = None,
    scheduled_to: Annotated[
        str | None, typer.Option("--to", metavar="ISO8601", help="Only posts scheduled before this time.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=10_000, help="Show at most this many.")
    ] = 50,
    json_output: JsonOpt = False,
) -> None:
    """List the tenant's posts, newest first.

    Examples:

      resonanz posts list

      resonanz posts list --status failed --limit 10

      resonanz posts list --label summer --network simulated --account @acme

      resonanz posts list --from 2026-06-01T00:00+02:00 --to 2026-07-01T00:00+02:00
    """
    if account and not network:
        raise typer.BadParameter("--account needs --network", param_hint="--account")
    base = publishing_pb2.ListPostsRequest(
        status=_status_value(status),
        label=label or "",
        network=network or "",
        account=account or "",
        campaign_id=campaign or "",
    )
    start, end = (
        parse_timestamp(scheduled_from, param_hint="--from"),
        parse_timestamp(scheduled_to, param_hint="--to"),
    )
    if start is not None:
        base.scheduled_from.CopyFrom(start)
    if end is not None:
        base.scheduled_to.CopyFrom(end)
    if start is not None and end is not None and end.ToNanoseconds() <= start.ToNanoseconds():
        raise typer.BadParameter("--to must be later than --from", param_hint="--to")
    clients = clients_of(ctx)
    posts: list[content_pb2.Post] = []
    token = ""
    with handled("publishing", clients.config.publishing_addr):
        while len(posts) < limit:
            request = publishing_pb2.ListPostsRequest()
            request.CopyFrom(base)
            request.page_size = min(500, limit - len(posts))
            request.page_token = token
            response = clients.publishing().ListPosts(
                request, metadata=clients.metadata, timeout=clients.timeout
            )
            posts.extend(response.posts)
            token = response.next_page_token
            if not token or not response.posts:
                break
    show_all(posts[:limit], render.posts_table, as_json=json_output)


@app.command("get")
def get(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Show one post with its review state and the status of each target.

    Example:

      resonanz posts get 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.publishing().GetPost(
            publishing_pb2.GetPostRequest(post_id=post_id), metadata=clients.metadata, timeout=clients.timeout
        )
    show(response.post, render.post_panel, as_json=json_output)


@app.command("watch")
def watch(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Follow a post: print a line each time it or one of its targets changes, until it is final.

    Example:

      resonanz posts watch 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        final = _watch(clients, post_id, as_json=json_output)
    if final is not None and not json_output:
        render.stdout().print(render.post_panel(final))


posts_workflow.register(app)
posts_import.register(app)
