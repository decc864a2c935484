"""``resonanz queries``: add, list and delete listening queries (ListeningService)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import resonanz.listening.v1.listening_service_pb2 as listening_pb2
import typer
from resonanz.common.v1 import mention_pb2

from resonanz_cli import render
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled

app = typer.Typer(help="Add, list and delete listening queries.", no_args_is_help=True)


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
    render.stdout().print(render.queries_table([query]))


@app.command("list")
def list_queries(ctx: typer.Context) -> None:
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
    render.stdout().print(render.queries_table(queries))


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
