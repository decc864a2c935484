"""``resonanz posts``: create, list, get and watch posts (PublishingService)."""

from __future__ import annotations

from typing import Annotated

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import typer
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import content_pb2

from resonanz_cli import render
from resonanz_cli.client import Clients, clients_of
from resonanz_cli.errors import EXIT_INTERRUPTED, handled
from resonanz_cli.options import parse_at, parse_target

app = typer.Typer(help="Create, list, show and watch posts.", no_args_is_help=True)

_STATUSES = [
    render.enum_label(name, "POST_STATUS_")
    for name, _ in content_pb2.PostStatus.items()
    if name != "POST_STATUS_UNSPECIFIED"
]


def _watch(clients: Clients, post_id: str) -> content_pb2.Post | None:
    """Print a line per WatchPost update until the post is final; return the last post seen."""
    console = render.stdout()
    stub = clients.publishing()
    last: content_pb2.Post | None = None
    stream = stub.WatchPost(publishing_pb2.WatchPostRequest(post_id=post_id), metadata=clients.metadata)
    try:
        for response in stream:
            last = response.post
            console.print(render.watch_line(last), soft_wrap=True)
    except KeyboardInterrupt:
        stream.cancel()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return last


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
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ISO8601",
            help="Publish at this ISO 8601 time (local time without an offset); default now.",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", metavar="LABEL", help="A label for the post. Repeat for several."),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", metavar="ID", help="Campaign id the post belongs to.")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Creating again with the same key returns the first post.",
        ),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the post until it is final.")] = False,
) -> None:
    """Create a post and schedule it for its targets.

    Examples:

      resonanz posts create --text "Hallo Welt" --target simulated:@acme

      resonanz posts create -t "Sale!" --target simulated:@acme --target simulated:@acme_de --label summer

      resonanz posts create -t "Guten Morgen" --target simulated:@acme --at 2025-06-01T09:30+02:00 --watch
    """
    targets = [parse_target(t) for t in target]
    request = publishing_pb2.CreatePostRequest(
        text=text,
        targets=[publishing_pb2.TargetSpec(network=n, account=a) for n, a in targets],
        labels=label or [],
        campaign_id=campaign or "",
        idempotency_key=idempotency_key or "",
    )
    if at is not None:
        scheduled = Timestamp()
        scheduled.FromDatetime(parse_at(at))
        request.scheduled_at.CopyFrom(scheduled)
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        post = (
            clients.publishing().CreatePost(request, metadata=clients.metadata, timeout=clients.timeout).post
        )
        render.stdout().print(render.post_panel(post))
        if watch:
            final = _watch(clients, post.id)
            if final is not None:
                render.stdout().print(render.post_panel(final))


@app.command("list")
def list_posts(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", metavar="STATUS", help=f"Only posts in this status: {', '.join(_STATUSES)}."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=10_000, help="Show at most this many.")
    ] = 50,
) -> None:
    """List the tenant's posts, newest first.

    Examples:

      resonanz posts list

      resonanz posts list --status failed --limit 10
    """
    status_value = content_pb2.POST_STATUS_UNSPECIFIED
    if status is not None:
        key = status.strip().lower().replace("-", "_")
        if key not in _STATUSES:
            raise typer.BadParameter(
                f"{status!r} is not one of {', '.join(_STATUSES)}", param_hint="--status"
            )
        status_value = content_pb2.PostStatus.Value("POST_STATUS_" + key.upper())
    clients = clients_of(ctx)
    posts: list[content_pb2.Post] = []
    token = ""
    with handled("publishing", clients.config.publishing_addr):
        while len(posts) < limit:
            response = clients.publishing().ListPosts(
                publishing_pb2.ListPostsRequest(
                    page_size=min(500, limit - len(posts)), page_token=token, status=status_value
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            posts.extend(response.posts)
            token = response.next_page_token
            if not token or not response.posts:
                break
    render.stdout().print(render.posts_table(posts[:limit]))


@app.command("get")
def get(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)],
) -> None:
    """Show one post with the status of each target.

    Example:

      resonanz posts get 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.publishing().GetPost(
            publishing_pb2.GetPostRequest(post_id=post_id), metadata=clients.metadata, timeout=clients.timeout
        )
    render.stdout().print(render.post_panel(response.post))


@app.command("watch")
def watch(
    ctx: typer.Context,
    post_id: Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)],
) -> None:
    """Follow a post: print a line each time it or one of its targets changes, until it is final.

    Example:

      resonanz posts watch 01J2Z8K4V6
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        final = _watch(clients, post_id)
    if final is not None:
        render.stdout().print(render.post_panel(final))
