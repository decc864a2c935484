"""``resonanz queries`` against a test double of the listening service on a real gRPC server.

The double stands in for the listening service, which is being built concurrently; the e2e test runs
the same commands against the real service.
"""

from __future__ import annotations

from cli_doubles import Platform, RunCli
from resonanz.common.v1 import mention_pb2


async def test_add_list_delete_round_trip(cli: RunCli, platform: Platform) -> None:
    added = await cli(
        "--tenant",
        "acme",
        "queries",
        "add",
        "globex-watch",
        "--expression",
        '"Globex Corp" OR #globex',
        "--label",
        "globex",
        "--role",
        "competitor",
        "--language",
        "de",
        "--language",
        "en",
        "--network",
        "simulated",
    )
    assert added.exit_code == 0, added.output
    [query] = platform.listening.queries.values()
    assert query.name == "globex-watch"
    assert query.expression == '"Globex Corp" OR #globex'
    assert query.role == mention_pb2.QUERY_ROLE_COMPETITOR
    assert list(query.languages) == ["de", "en"]
    assert list(query.networks) == ["simulated"]
    assert query.tenant == "acme"
    assert query.id in added.output

    listed = await cli("--tenant", "acme", "queries", "list")
    assert listed.exit_code == 0
    assert "1 listening query" in listed.output
    assert "competitor" in listed.output
    assert '"Globex Corp" OR #globex' in listed.output

    other = await cli("--tenant", "initech", "queries", "list")
    assert "0 listening queries" in other.output

    deleted = await cli("--tenant", "acme", "queries", "delete", query.id)
    assert deleted.exit_code == 0
    assert f"deleted query {query.id}" in deleted.output
    assert platform.listening.queries == {}


async def test_role_defaults_to_brand(cli: RunCli, platform: Platform) -> None:
    result = await cli("queries", "add", "acme", "--expression", "acme", "--label", "acme")
    assert result.exit_code == 0, result.output
    [query] = platform.listening.queries.values()
    assert query.role == mention_pb2.QUERY_ROLE_BRAND


async def test_bad_role_is_a_user_error(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "queries", "add", "acme", "--expression", "acme", "--label", "acme", "--role", "partner"
    )
    assert result.exit_code == 1
    assert "--role" in result.output
    assert platform.listening.queries == {}


async def test_violations_from_the_service_are_printed(cli: RunCli, platform: Platform) -> None:
    result = await cli("queries", "add", "empty", "--expression", " ", "--label", "")
    assert result.exit_code == 1
    assert "  - expression: must not be empty" in result.output.splitlines()
    assert "  - label: must not be empty" in result.output.splitlines()
    assert platform.listening.queries == {}


async def test_delete_unknown_query(cli: RunCli) -> None:
    result = await cli("queries", "delete", "nope")
    assert result.exit_code == 1
    assert "not_found" in result.output


async def test_unavailable_listening_service(cli: RunCli, unused_address: str) -> None:
    result = await cli("queries", "list", env={"RESONANZ_LISTENING_ADDR": unused_address})
    assert result.exit_code == 2
    assert "listening service" in result.output
    assert "make run" in result.output
