"""``resonanz queries``: add, list, show, update and delete listening queries, see how they are
collected and backfill them (ListeningService)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import typer
from resonanz.common.v1 import mention_pb2
from rich.markup import escape

from resonanz_cli import backfills, render, render_listening
from resonanz_cli.client import clients_of
from resonanz_cli.errors import fail, handled, stderr
from resonanz_cli.options import parse_timestamp
from resonanz_cli.output import JsonOpt, as_dict, print_json, show, show_all

app = typer.Typer(
    help="Add, list, change and delete listening queries; see their collection; backfill them.",
    no_args_is_help=True,
)


class Role(StrEnum):
    BRAND = "brand"
    COMPETITOR = "competitor"


_ROLES = {Role.BRAND: mention_pb2.QUERY_ROLE_BRAND, Role.COMPETITOR: mention_pb2.QUERY_ROLE_COMPETITOR}


@app.command("add")
def add(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="A name for the query.", show_default=False)],
    expression: Annotated[
        str,
        typer.Option(
            "--expression",
            "-e",
            metavar="EXPR",
            help='Keyword expression: AND, OR, NOT, "phrases", #hashtags, @accounts.',
            show_default=False,
        ),
    ],
    label: Annotated[
        str,
        typer.Option(
            "--label",
            "-l",
            metavar="LABEL",
            help="The brand or competitor the query stands for.",
            show_default=False,
        ),
    ],
    role: Annotated[Role, typer.Option("--role", help="Whose voice this is.")] = Role.BRAND,
    language: Annotated[
        list[str] | None,
        typer.Option("--language", metavar="LANG", help="Only mentions in this language (repeatable)."),
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option("--network", metavar="NETWORK", help="Only mentions on this network (repeatable)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Add a listening query: mentions matching EXPRESSION are collected under LABEL.

    Examples:

      resonanz queries add acme --expression 'acme OR #acme' --label acme

      resonanz queries add globex -e '"Globex Corp"' -l globex --role competitor --language de
    """
    request = listening_pb2.CreateQueryRequest(
        name=name,
        expression=expression,
        label=label,
        role=_ROLES[role],
        languages=language or [],
        networks=network or [],
    )
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        query = (
            clients.listening().CreateQuery(request, metadata=clients.metadata, timeout=clients.timeout).query
        )
    show(query, lambda q: render.queries_table([q]), as_json=json_output)


@app.command("list")
def list_queries(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the tenant's listening queries.

    Example:

      resonanz queries list
    """
    clients = clients_of(ctx)
    queries: list[mention_pb2.ListeningQuery] = []
    token = ""
    with handled("listening", clients.config.listening_addr):
        while True:
            response = clients.listening().ListQueries(
                listening_pb2.ListQueriesRequest(page_size=500, page_token=token),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            queries.extend(response.queries)
            token = response.next_page_token
            if not token or not response.queries:
                break
    show_all(queries, render.queries_table, as_json=json_output)


@app.command("delete")
def delete(
    ctx: typer.Context,
    query_id: Annotated[str, typer.Argument(metavar="ID", help="The query's id.", show_default=False)],
) -> None:
    """Delete a listening query; mentions it already collected stay.

    Example:

      resonanz queries delete 5f0c2a
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        clients.listening().DeleteQuery(
            listening_pb2.DeleteQueryRequest(query_id=query_id),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    render.stdout().print(f"deleted query {query_id}")


QueryIdArg = Annotated[str, typer.Argument(metavar="ID", help="The query's id.", show_default=False)]


@app.command("show")
def show_query(ctx: typer.Context, query_id: QueryIdArg, json_output: JsonOpt = False) -> None:
    """Show one listening query.

    Example:

      resonanz queries show 5f0c2a
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        query = (
            clients.listening()
            .GetQuery(
                listening_pb2.GetQueryRequest(query_id=query_id),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .query
        )
    show(query, lambda q: render.queries_table([q]), as_json=json_output)


@app.command("update")
def update(
    ctx: typer.Context,
    query_id: QueryIdArg,
    *,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="A new name.")] = None,
    expression: Annotated[
        str | None,
        typer.Option(
            "--expression",
            "-e",
            metavar="EXPR",
            help="A new keyword expression. New search terms restart collection from the networks' "
            "start; the same terms keep the cursors.",
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", "-l", metavar="LABEL", help="A new label.")] = None,
    role: Annotated[Role | None, typer.Option("--role", help="Whose voice this is.")] = None,
    language: Annotated[
        list[str] | None,
        typer.Option(
            "--language",
            metavar="LANG",
            help="Replace the languages (repeatable); --all-languages clears them.",
        ),
    ] = None,
    all_languages: Annotated[
        bool, typer.Option("--all-languages", help="Collect mentions in any language.")
    ] = False,
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network",
            metavar="NETWORK",
            help="Replace the networks (repeatable); --all-networks clears them.",
        ),
    ] = None,
    all_networks: Annotated[
        bool, typer.Option("--all-networks", help="Collect from every network that supports search.")
    ] = False,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Start or stop collecting (cursors are kept)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Change a listening query; only the options given change.

    Examples:

      resonanz queries update 5f0c2a --disable

      resonanz queries update 5f0c2a --expression 'acme OR #acme OR @acme' --language de --language en

      resonanz queries update 5f0c2a --all-networks --role competitor
    """
    if language and all_languages:
        raise typer.BadParameter("give --language or --all-languages, not both", param_hint="--all-languages")
    if network and all_networks:
        raise typer.BadParameter("give --network or --all-networks, not both", param_hint="--all-networks")
    scalars: dict[str, object] = {
        "name": name,
        "expression": expression,
        "label": label,
        "role": _ROLES[role] if role is not None else None,
        "enabled": enabled,
    }
    request = listening_pb2.UpdateQueryRequest(
        query_id=query_id,
        languages=language or [],
        networks=network or [],
        **{field: value for field, value in scalars.items() if value is not None},  # type: ignore[arg-type]
    )
    mask = [field for field, value in scalars.items() if value is not None]
    if language or all_languages:
        mask.append("languages")
    if network or all_networks:
        mask.append("networks")
    if not mask:
        raise typer.BadParameter(
            "nothing to change: give at least one of --name, --expression, --label, --role, --language, "
            "--all-languages, --network, --all-networks, --enable, --disable",
            param_hint="options",
        )
    request.update_mask.extend(mask)
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        query = (
            clients.listening().UpdateQuery(request, metadata=clients.metadata, timeout=clients.timeout).query
        )
    show(query, lambda q: render.queries_table([q]), as_json=json_output)


@app.command("status")
def status(ctx: typer.Context, query_id: QueryIdArg, json_output: JsonOpt = False) -> None:
    """Show how a query is collected on each network: replica, lease, last poll, back-off, errors.

    Example:

      resonanz queries status 5f0c2a
    """
    clients = clients_of(ctx)
    with handled("listening", clients.config.listening_addr):
        response = clients.listening().GetQueryStatus(
            listening_pb2.GetQueryStatusRequest(query_id=query_id),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    if json_output:
        print_json(as_dict(response))
    else:
        render.stdout().print(render_listening.collection_table(query_id, list(response.networks)))


@app.command("backfill")
def backfill(
    ctx: typer.Context,
    query_id: QueryIdArg,
    *,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="TIME",
            help="Collect posts published at or after this ISO 8601 time or date "
            "(without an offset: this machine's time zone).",
            show_default=False,
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TIME", help="...and before this time; default: now."),
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network", metavar="NETWORK", help="Only this network (repeatable); default: the query's."
        ),
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            metavar="ID",
            help="Makes a retried command join the backfill the first attempt started; default: a new one.",
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Print the backfill's id and return; it runs on.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Collect a query's mentions of a past time range, with a progress bar until it ends.

    The backfill runs in the listening service: Ctrl-C (or --detach) only stops following it; see
    `resonanz backfills watch ID`. Exits with 1 when it failed or was cancelled.

    Examples:

      resonanz queries backfill 5f0c2a --since 2026-11-01

      resonanz queries backfill 5f0c2a --since 2026-11-01T00:00Z --until 2026-11-08T00:00Z --network simulated

      resonanz queries backfill 5f0c2a --since 2026-10-01 --detach
    """
    request = listening_pb2.BackfillRequest(
        query_id=query_id,
        networks=network or [],
        request_id=request_id or uuid.uuid4().hex,
    )
    start = parse_timestamp(since, param_hint="--since")
    assert start is not None  # --since is required
    request.since.CopyFrom(start)
    end = parse_timestamp(until, param_hint="--until")
    if end is not None:
        if end.ToDatetime() <= start.ToDatetime():
            raise typer.BadParameter("must be after --since", param_hint="--until")
        request.until.CopyFrom(end)
    clients = clients_of(ctx)
    stream = clients.listening().Backfill(request, metadata=clients.metadata)
    if detach:
        with handled("listening", clients.config.listening_addr):
            try:
                response = next(iter(stream), None)
            finally:
                stream.cancel()
        if response is None:
            fail("the listening service ended the backfill call without saying which backfill it started")
        first = response.backfill
        if json_output:
            print_json(as_dict(first))
        else:
            render.stdout().print(first.backfill_id)
            stderr().print(f"follow it with: resonanz backfills watch {escape(first.backfill_id)}")
        return
    backfills.watch_stream(clients, stream, as_json=json_output)
