"""``resonanz accounts``: connect network accounts, manage their credentials and posting queues
(AccountService).

Credentials come from ``--credential KEY=VALUE``, ``--credential KEY`` (the value is asked for with
hidden input), ``--credentials-file creds.json`` or, when none of these is given, an interactive prompt
(hidden input). They are sent to the service once and never printed: the service stores them
encrypted and only ever answers with the names of the fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import resonanz.publishing.v1.account_service_pb2 as account_pb2
import typer

from resonanz_cli import render_admin
from resonanz_cli.client import clients_of
from resonanz_cli.errors import fail, handled
from resonanz_cli.options import parse_slot, parse_target, parse_time_zone
from resonanz_cli.output import JsonOpt, show, show_all

app = typer.Typer(help="Connect accounts, manage their credentials and posting queues.", no_args_is_help=True)
queue_app = typer.Typer(help="The weekly posting slots that --next-slot posts go into.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")

NetworkArg = Annotated[
    str, typer.Argument(metavar="NETWORK", help="The network, e.g. simulated.", show_default=False)
]
HandleArg = Annotated[
    str, typer.Argument(metavar="HANDLE", help="The account's handle, e.g. @acme.", show_default=False)
]
CredentialOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--credential",
        "-c",
        metavar="KEY[=VALUE]",
        help="A credential field; without =VALUE the value is asked for (hidden). Repeatable.",
    ),
]
CredentialsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials-file",
        metavar="FILE.json",
        help='A JSON object of credential fields, e.g. {"access_token": "..."}.',
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]


def account_ref(network: str, handle: str) -> account_pb2.AccountRef:
    """Check ``network`` and ``handle`` the way ``--target`` is checked and build the reference."""
    try:
        network_name, handle_name = parse_target(f"{network}:{handle}")
    except typer.BadParameter as error:
        raise typer.BadParameter(error.message, param_hint="NETWORK HANDLE") from None
    return account_pb2.AccountRef(network=network_name, handle=handle_name)


def _from_file(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"cannot read credentials from {path}: {error}")
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
    ):
        fail(f'{path} must hold one JSON object of string fields, e.g. {{"access_token": "..."}}')
    return dict(loaded)


def _prompt_all() -> dict[str, str]:
    credentials: dict[str, str] = {}
    typer.echo("Enter the credential fields (the plugin's guide names them); an empty name ends.", err=True)
    while True:
        name = str(typer.prompt("field name", default="", show_default=False, err=True)).strip()
        if not name:
            return credentials
        credentials[name] = str(typer.prompt(f"{name} (hidden)", hide_input=True, err=True))


def gather_credentials(pairs: list[str] | None, path: Path | None) -> dict[str, str]:
    """Credentials from the file, then the ``--credential`` options (which win), else a prompt."""
    credentials = _from_file(path) if path is not None else {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not key:
            raise typer.BadParameter(
                f"{pair.split('=')[0]!r}: the field needs a name", param_hint="--credential"
            )
        credentials[key] = value if sep else str(typer.prompt(f"{key} (hidden)", hide_input=True, err=True))
    if path is None and not pairs:
        credentials = _prompt_all()
    if not credentials:
        fail("no credentials given: use --credential KEY=VALUE, --credentials-file or answer the prompt")
    return credentials


@app.command("connect")
def connect(
    ctx: typer.Context,
    network: NetworkArg,
    handle: HandleArg,
    *,
    display_name: Annotated[
        str | None, typer.Option("--display-name", metavar="NAME", help="A name to show for the account.")
    ] = None,
    credential: CredentialOpt = None,
    credentials_file: CredentialsFileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Connect (or reconnect) an account: its credentials are stored encrypted, never shown again.

    Examples:

      resonanz accounts connect simulated @acme --display-name "ACME GmbH" --credential access_token

      resonanz accounts connect mastodon @acme@social.example --credentials-file creds.json

      resonanz accounts connect simulated @acme_de
    """
    ref = account_ref(network, handle)
    clients = clients_of(ctx)  # settings first: nobody types a secret for a command that cannot run
    credentials = gather_credentials(credential, credentials_file)
    with handled("publishing", clients.config.publishing_addr):
        account = (
            clients.accounts()
            .ConnectAccount(
                account_pb2.ConnectAccountRequest(
                    account=ref, display_name=display_name or "", credentials=credentials
                ),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .account
        )
    show(account, render_admin.account_panel, as_json=json_output)


@app.command("list")
def list_accounts(
    ctx: typer.Context,
    network: Annotated[
        str | None, typer.Option("--network", metavar="NETWORK", help="Only accounts on this network.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List the workspace's accounts with their status and the names of their credential fields.

    Examples:

      resonanz accounts list

      resonanz accounts list --network simulated
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.accounts().ListAccounts(
            account_pb2.ListAccountsRequest(network=network or ""),
            metadata=clients.metadata,
            timeout=clients.timeout,
        )
    show_all(list(response.accounts), render_admin.accounts_table, as_json=json_output)


@app.command("get")
def get(ctx: typer.Context, network: NetworkArg, handle: HandleArg, json_output: JsonOpt = False) -> None:
    """Show one account.

    Example:

      resonanz accounts get simulated @acme
    """
    ref = account_ref(network, handle)
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        account = (
            clients.accounts()
            .GetAccount(
                account_pb2.GetAccountRequest(account=ref), metadata=clients.metadata, timeout=clients.timeout
            )
            .account
        )
    show(account, render_admin.account_panel, as_json=json_output)


@app.command("update-credentials")
def update_credentials(
    ctx: typer.Context,
    network: NetworkArg,
    handle: HandleArg,
    *,
    credential: CredentialOpt = None,
    credentials_file: CredentialsFileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Replace an account's stored credentials (e.g. a new token) and mark it connected.

    Example:

      resonanz accounts update-credentials simulated @acme --credential access_token
    """
    ref = account_ref(network, handle)
    clients = clients_of(ctx)  # settings first: nobody types a secret for a command that cannot run
    credentials = gather_credentials(credential, credentials_file)
    with handled("publishing", clients.config.publishing_addr):
        account = (
            clients.accounts()
            .UpdateCredentials(
                account_pb2.UpdateCredentialsRequest(account=ref, credentials=credentials),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .account
        )
    show(account, render_admin.account_panel, as_json=json_output)


@app.command("disconnect")
def disconnect(
    ctx: typer.Context, network: NetworkArg, handle: HandleArg, json_output: JsonOpt = False
) -> None:
    """Forget an account's credentials; its scheduled posts fail until it is connected again.

    Example:

      resonanz accounts disconnect simulated @acme
    """
    ref = account_ref(network, handle)
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        account = (
            clients.accounts()
            .DisconnectAccount(
                account_pb2.DisconnectAccountRequest(account=ref),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .account
        )
    show(account, render_admin.account_panel, as_json=json_output)


@app.command("rotate-keys")
def rotate_keys(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Re-encrypt every stored credential with the primary (first) key of RESONANZ_CREDENTIAL_KEYS.

    Rotation: put the new key first in the services' key list, restart them, run this, then drop the
    old key. Needs the admin role once the workspace has members.

    Example:

      resonanz accounts rotate-keys
    """
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        response = clients.accounts().RotateCredentialKeys(
            account_pb2.RotateCredentialKeysRequest(), metadata=clients.metadata, timeout=clients.timeout
        )
    show(response, lambda r: f"re-encrypted the credentials of {r.rotated} account(s)", as_json=json_output)


@queue_app.command("set")
def queue_set(
    ctx: typer.Context,
    network: NetworkArg,
    handle: HandleArg,
    *,
    tz: Annotated[
        str | None,
        typer.Option("--tz", metavar="ZONE", help="IANA time zone of the slots, e.g. Europe/Berlin."),
    ] = None,
    slot: Annotated[
        list[str] | None,
        typer.Option("--slot", metavar="'DAY HH:MM'", help="A weekly slot, e.g. 'mon 09:00'. Repeatable."),
    ] = None,
    clear_queue: Annotated[bool, typer.Option("--clear", help="Remove every slot.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Set an account's weekly posting slots (replacing the old ones); --next-slot posts go into them.

    Examples:

      resonanz accounts queue set simulated @acme --tz Europe/Berlin --slot "mon 09:00" --slot "fri 16:00"

      resonanz accounts queue set simulated @acme --clear
    """
    ref = account_ref(network, handle)
    if clear_queue and slot:
        raise typer.BadParameter("give --slot or --clear, not both", param_hint="--clear")
    if not clear_queue and not slot:
        raise typer.BadParameter("give at least one --slot (or --clear to remove all)", param_hint="--slot")
    if slot and not tz:
        raise typer.BadParameter("the slots need a time zone, e.g. --tz Europe/Berlin", param_hint="--tz")
    zone = parse_time_zone(tz) if tz else ""
    slots = [account_pb2.WeeklySlot(weekday=d, time=t) for d, t in (parse_slot(s) for s in slot or [])]
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        queue = (
            clients.accounts()
            .SetPostingQueue(
                account_pb2.SetPostingQueueRequest(account=ref, time_zone=zone, slots=slots),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .queue
        )
    show(queue, render_admin.queue_panel, as_json=json_output)


@queue_app.command("show")
def queue_show(
    ctx: typer.Context, network: NetworkArg, handle: HandleArg, json_output: JsonOpt = False
) -> None:
    """Show an account's weekly slots and its next free ones.

    Example:

      resonanz accounts queue show simulated @acme
    """
    ref = account_ref(network, handle)
    clients = clients_of(ctx)
    with handled("publishing", clients.config.publishing_addr):
        queue = (
            clients.accounts()
            .GetPostingQueue(
                account_pb2.GetPostingQueueRequest(account=ref),
                metadata=clients.metadata,
                timeout=clients.timeout,
            )
            .queue
        )
    show(queue, render_admin.queue_panel, as_json=json_output)
