"""``resonanz scores draft "TEXT"``: score a post before it is published (ScoreDraft)."""

from __future__ import annotations

from typing import Annotated

import resonanz.scoring.v1.scoring_service_pb2 as scoring_pb2
import typer

from resonanz_cli import render_scores
from resonanz_cli.client import clients_of
from resonanz_cli.errors import handled
from resonanz_cli.output import JsonOpt, show


def draft(
    ctx: typer.Context,
    *,
    text: Annotated[
        str, typer.Argument(help="The draft text; '-' reads it from standard input.", show_default=False)
    ],
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network", metavar="NETWORK", help="Advise for this network (repeatable); default: every one."
        ),
    ] = None,
    account: Annotated[
        str,
        typer.Option(
            "--account", "-a", metavar="ACCOUNT", help="Best times to post from this account's history."
        ),
    ] = "",
    language: Annotated[
        str, typer.Option("--language", metavar="LANG", help="ISO 639-1 hint (de, en); default: detect.")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Predict a draft's sentiment and advise per network on length, hashtags and the best times to post.

    Examples:

      resonanz scores draft "Unser Sommer-Sale startet morgen! #sale" --network simulated

      resonanz scores draft - --network simulated --account @acme < post.txt
    """
    if text == "-":
        text = typer.get_text_stream("stdin").read()
    clients = clients_of(ctx)
    with handled("scoring", clients.config.scoring_addr):
        response = clients.scoring().ScoreDraft(
            scoring_pb2.ScoreDraftRequest(
                text=text, networks=network or [], account=account, language=language
            ),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show(response, render_scores.draft_panel, as_json=as_json)
