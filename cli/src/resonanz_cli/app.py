"""The ``resonanz`` command: the Typer app, its global options and ``main()``.

Command groups live in one module each; this module wires them together and makes every usage error
exit with 1 (the user has to change the command), keeping 2 for "a service could not be reached".
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from resonanz_cli import accounts, backfills, media, mentions, plugins, posts, queries, scores, workspace
from resonanz_cli.client import CliState
from resonanz_cli.errors import EXIT_USER_ERROR


def _as_user_error(error: BaseException) -> None:
    """Click's usage errors exit with 2; ours exit with 1 (2 means "service unavailable")."""
    if (
        isinstance(error, typer.BadParameter.__mro__[1]) and getattr(error, "exit_code", None) == 2
    ):  # UsageError
        error.exit_code = EXIT_USER_ERROR  # type: ignore[attr-defined]


class ResonanzGroup(TyperGroup):
    """The root group; it maps usage errors (at any depth) to exit code 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except Exception as error:
            _as_user_error(error)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            _as_user_error(error)
            raise


app = typer.Typer(
    name="resonanz",
    cls=ResonanzGroup,
    help="Resonanz: publish posts, listen to mentions and read scores from the command line.\n\n"
    "Services are found through RESONANZ_PUBLISHING_ADDR (posts, accounts, workspace, media), "
    "RESONANZ_LISTENING_ADDR and RESONANZ_SCORING_ADDR (default RESONANZ_GRPC_HOST with the service "
    "ports).\n\n"
    "Exit codes: 0 ok, 1 fix your input, 2 a service is unavailable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(posts.app, name="posts")
app.add_typer(queries.app, name="queries")
app.add_typer(mentions.app, name="mentions")
app.add_typer(backfills.app, name="backfills")
app.add_typer(scores.app, name="scores")
app.add_typer(plugins.app, name="plugins")
app.add_typer(accounts.app, name="accounts")
app.add_typer(workspace.app, name="workspace")
app.add_typer(media.app, name="media")


@app.callback()
def root(
    ctx: typer.Context,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            metavar="TENANT",
            help="Tenant to act for (sent as x-resonanz-tenant). Default: RESONANZ_TENANT, else 'default'.",
            show_default=False,
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--as",
            "--actor",
            metavar="USER",
            help="User to act as (sent as x-resonanz-actor; the audit log names them). "
            "Default: RESONANZ_ACTOR, else your login name.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Resonanz command line."""
    state = CliState(tenant=tenant, actor=actor)
    ctx.obj = state
    ctx.call_on_close(state.close)


def main() -> None:
    """Console-script entry point."""
    app()
