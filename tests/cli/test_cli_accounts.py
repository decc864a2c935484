"""``resonanz accounts`` against the in-process account double over real gRPC: credentials from options,
a file or a hidden prompt (and never printed), list/get/update/disconnect, posting queues, key rotation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import resonanz.publishing.v1.account_service_pb2 as account_pb2
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
from cli_doubles import Platform, RunCli

SECRET = "s3cr3t-t0ken-value"


async def _connect(cli: RunCli, handle: str = "@acme", *extra: str) -> None:
    result = await cli(
        "accounts", "connect", "simulated", handle, "--credential", f"access_token={SECRET}", *extra
    )
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


async def test_connect_with_credential_options(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "--as",
        "anna",
        "accounts",
        "connect",
        "simulated",
        "@acme",
        "--display-name",
        "ACME GmbH",
        "--credential",
        f"access_token={SECRET}",
        "-c",
        "refresh_token=r=1",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.accounts.recorder.requests("ConnectAccount")
    assert request.account == account_pb2.AccountRef(network="simulated", handle="@acme")
    assert request.display_name == "ACME GmbH"
    assert dict(request.credentials) == {"access_token": SECRET, "refresh_token": "r=1"}
    assert platform.accounts.recorder.calls[0].actor == "anna"
    assert SECRET not in result.output
    assert "access_token, refresh_token (values never shown)" in result.output
    assert "connected" in result.output


async def test_connect_from_a_file_with_options_winning(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"access_token": "from-file", "client_id": "abc"}), encoding="utf-8")
    result = await cli(
        "accounts",
        "connect",
        "simulated",
        "@acme",
        "--credentials-file",
        str(creds),
        "-c",
        "access_token=cli",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.accounts.recorder.requests("ConnectAccount")
    assert dict(request.credentials) == {"access_token": "cli", "client_id": "abc"}
    assert "from-file" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read credentials"),
        ('["a"]', "one JSON object of string fields"),
        ('{"a": 1}', "string"),
    ],
)
async def test_a_bad_credentials_file_is_a_user_error(
    cli: RunCli, platform: Platform, tmp_path: Path, content: str, message: str
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(content, encoding="utf-8")
    result = await cli("accounts", "connect", "simulated", "@acme", "--credentials-file", str(creds))
    assert result.exit_code == 1
    assert message in result.output
    assert platform.accounts.recorder.calls == []


async def test_connect_prompts_with_hidden_input(cli: RunCli, platform: Platform) -> None:
    typed = f"access_token\n{SECRET}\nrefresh_token\nrrr\n\n"
    result = await cli("accounts", "connect", "simulated", "@acme", input=typed)
    assert result.exit_code == 0, result.output
    [request] = platform.accounts.recorder.requests("ConnectAccount")
    assert dict(request.credentials) == {"access_token": SECRET, "refresh_token": "rrr"}
    assert SECRET not in result.output  # hidden input is not echoed
    assert "rrr" not in result.output
    assert "access_token (hidden)" in result.output


async def test_a_credential_without_value_is_asked_for(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "accounts", "update-credentials", "simulated", "@acme", "-c", "access_token", input="neu\n"
    )
    assert result.exit_code == 1  # the account does not exist yet
    assert "not_found: account simulated:@acme not found" in result.output
    await _connect(cli)
    result = await cli(
        "accounts", "update-credentials", "simulated", "@acme", "-c", "access_token", input="neu\n"
    )
    assert result.exit_code == 0, result.output
    request = platform.accounts.recorder.requests("UpdateCredentials")[-1]
    assert dict(request.credentials) == {"access_token": "neu"}
    assert "neu" not in result.output.replace("access_token (hidden):", "")


async def test_no_credentials_at_all_is_refused(cli: RunCli, platform: Platform) -> None:
    result = await cli("accounts", "connect", "simulated", "@acme", input="\n")
    assert result.exit_code == 1
    assert "no credentials given" in result.output
    assert platform.accounts.recorder.calls == []


@pytest.mark.parametrize(("network", "handle"), [("Simulated", "@acme"), ("simulated", " ")])
async def test_a_bad_account_reference_is_refused(
    cli: RunCli, platform: Platform, network: str, handle: str
) -> None:
    result = await cli("accounts", "get", network, handle)
    assert result.exit_code == 1
    assert "NETWORK HANDLE" in result.output
    assert platform.accounts.recorder.calls == []


async def test_list_get_disconnect(cli: RunCli, platform: Platform) -> None:
    await _connect(cli, "@acme", "--display-name", "ACME")
    await _connect(cli, "@acme_de")
    listed = await cli("accounts", "list", "--network", "simulated")
    assert listed.exit_code == 0, listed.output
    assert "2 account(s)" in listed.output
    assert "@acme_de" in listed.output
    assert SECRET not in listed.output
    assert platform.accounts.recorder.requests("ListAccounts")[0].network == "simulated"
    other_tenant = await cli("--tenant", "globex", "accounts", "list")
    assert "0 account(s)" in other_tenant.output
    got = await cli("accounts", "get", "simulated", "@acme")
    assert got.exit_code == 0
    assert "account simulated:@acme" in got.output
    assert "ACME" in got.output
    gone = await cli("accounts", "disconnect", "simulated", "@acme")
    assert gone.exit_code == 0, gone.output
    assert "disconnected" in gone.output
    assert platform.accounts.recorder.requests("DisconnectAccount")[0].account.handle == "@acme"
    missing = await cli("accounts", "get", "simulated", "@nobody")
    assert missing.exit_code == 1
    assert missing.output.startswith("error: not_found: account simulated:@nobody not found")


async def test_queue_set_and_show(cli: RunCli, platform: Platform) -> None:
    await _connect(cli)
    result = await cli(
        "accounts",
        "queue",
        "set",
        "simulated",
        "@acme",
        "--tz",
        "Europe/Berlin",
        "--slot",
        "mon 09:00",
        "--slot",
        "Friday 16:30",
        "--slot",
        "sun 7:05",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.accounts.recorder.requests("SetPostingQueue")
    assert request.time_zone == "Europe/Berlin"
    assert [(s.weekday, s.time) for s in request.slots] == [(1, "09:00"), (5, "16:30"), (7, "07:05")]
    assert "mon 09:00, fri 16:30, sun 07:05" in result.output
    shown = await cli("accounts", "queue", "show", "simulated", "@acme")
    assert shown.exit_code == 0
    assert "Europe/Berlin" in shown.output
    assert "posting queue of simulated:@acme" in shown.output
    cleared = await cli("accounts", "queue", "set", "simulated", "@acme", "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert list(platform.accounts.recorder.requests("SetPostingQueue")[-1].slots) == []
    assert "none" in cleared.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--tz", "Europe/Berlin"], "--slot"),
        (["--slot", "mon 09:00"], "--tz"),
        (["--tz", "Europe/Berlin", "--slot", "monday"], "--slot"),
        (["--tz", "Europe/Berlin", "--slot", "xyz 09:00"], "--slot"),
        (["--tz", "Europe/Berlin", "--slot", "mon 24:00"], "--slot"),
        (["--tz", "Berlin", "--slot", "mon 09:00"], "--tz"),
        (["--clear", "--slot", "mon 09:00", "--tz", "UTC"], "--clear"),
    ],
)
async def test_queue_set_refuses_bad_input(
    cli: RunCli, platform: Platform, args: list[str], hint: str
) -> None:
    result = await cli("accounts", "queue", "set", "simulated", "@acme", *args)
    assert result.exit_code == 1, result.output
    assert hint in result.output
    assert platform.accounts.recorder.calls == []


async def test_rotate_keys_needs_admin_once_there_are_members(cli: RunCli, platform: Platform) -> None:
    await _connect(cli)
    await _connect(cli, "@acme_de")
    result = await cli("accounts", "rotate-keys")
    assert result.exit_code == 0, result.output
    assert "re-encrypted the credentials of 2 account(s)" in result.output
    platform.workspace.members["default"] = {
        "anna": workspace_pb2.Member(user="anna", role=workspace_pb2.ROLE_ADMIN),
        "ed": workspace_pb2.Member(user="ed", role=workspace_pb2.ROLE_EDITOR),
    }
    refused = await cli("--as", "ed", "accounts", "rotate-keys")
    assert refused.exit_code == 1
    assert refused.output.startswith("error: permission_denied: ed needs the admin role")
    assert (await cli("--as", "anna", "accounts", "rotate-keys")).exit_code == 0


async def test_unreachable_service(cli: RunCli, unused_address: str) -> None:
    result = await cli("accounts", "list", env={"RESONANZ_PUBLISHING_ADDR": unused_address})
    assert result.exit_code == 2
    assert f"the publishing service at {unused_address} is unavailable" in result.output
