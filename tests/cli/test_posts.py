"""``resonanz posts`` against test doubles of the publishing service on a real gRPC server.

The doubles stand in for the publishing service, which is being built concurrently; the e2e test runs
the same commands against the real services.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cli_doubles import Platform, RunCli
from resonanz.common.v1 import content_pb2


async def test_create_prints_the_post_and_sends_everything(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "posts",
        "create",
        "--text",
        "Hallo Welt",
        "--target",
        "simulated:@acme",
        "--target",
        "simulated:@acme_de",
        "--at",
        "2030-01-01T10:00+01:00",
        "--label",
        "summer",
        "--label",
        "de",
        "--campaign",
        "camp-1",
        "--idempotency-key",
        "k-1",
    )
    assert result.exit_code == 0, result.output
    [post] = platform.publishing.posts.values()
    assert post.text == "Hallo Welt"
    assert [(t.network, t.account) for t in post.targets] == [
        ("simulated", "@acme"),
        ("simulated", "@acme_de"),
    ]
    assert list(post.labels) == ["summer", "de"]
    assert post.campaign_id == "camp-1"
    assert post.idempotency_key == "k-1"
    assert post.scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert post.id in result.output
    assert "scheduled" in result.output
    assert "2030-01-01 09:00:00Z" in result.output
    assert "@acme_de" in result.output


async def test_tenant_comes_from_option_then_env_then_default(cli: RunCli, platform: Platform) -> None:
    args = ("posts", "create", "--text", "x", "--target", "simulated:@acme")
    assert (await cli("--tenant", "acme-gmbh", *args)).exit_code == 0
    assert (await cli(*args, env={"RESONANZ_TENANT": "globex"})).exit_code == 0
    assert (await cli("--tenant", "initech", *args, env={"RESONANZ_TENANT": "globex"})).exit_code == 0
    assert (await cli(*args)).exit_code == 0
    assert platform.publishing.tenants == ["acme-gmbh", "globex", "initech", "default"]
    assert sorted(p.tenant for p in platform.publishing.posts.values()) == sorted(platform.publishing.tenants)


async def test_posts_of_another_tenant_are_not_listed(cli: RunCli, platform: Platform) -> None:
    created = await cli(
        "--tenant", "acme", "posts", "create", "--text", "nur acme", "--target", "simulated:@a"
    )
    assert created.exit_code == 0
    listed = await cli("--tenant", "globex", "posts", "list")
    assert listed.exit_code == 0, listed.output
    assert "0 post(s)" in listed.output
    assert "nur acme" not in listed.output


async def test_invalid_tenant_is_refused_before_any_call(cli: RunCli, platform: Platform) -> None:
    result = await cli("--tenant", "Not A Tenant", "posts", "list")
    assert result.exit_code == 1
    assert "--tenant" in result.output
    assert platform.publishing.tenants == []


@pytest.mark.parametrize(
    "target", ["simulated", "simulated:", ":@acme", "Simulated:@acme", "sim ulated:@acme"]
)
async def test_bad_target_format_is_a_user_error(cli: RunCli, platform: Platform, target: str) -> None:
    result = await cli("posts", "create", "--text", "x", "--target", target)
    assert result.exit_code == 1, result.output
    assert "--target" in result.output
    assert "Traceback" not in result.output
    assert platform.publishing.posts == {}
    assert platform.publishing.tenants == []


async def test_bad_at_is_a_user_error(cli: RunCli, platform: Platform) -> None:
    result = await cli("posts", "create", "--text", "x", "--target", "simulated:@a", "--at", "tomorrow")
    assert result.exit_code == 1
    assert "--at" in result.output
    assert platform.publishing.posts == {}


async def test_missing_required_option_exits_with_1(cli: RunCli) -> None:
    result = await cli("posts", "create", "--text", "x")
    assert result.exit_code == 1
    assert "--target" in result.output


async def test_field_violations_of_invalid_argument_are_printed(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "posts", "create", "--text", "  ", "--target", "mastodon:@acme", "--target", "simulated:@b"
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("error: invalid_argument:")
    assert "  - text: must not be empty" in lines
    assert "  - targets[0].network: no plugin provides 'mastodon'" in lines
    assert "Traceback" not in result.output
    assert platform.publishing.posts == {}


async def test_unavailable_service_exits_2_with_a_hint(cli: RunCli, unused_address: str) -> None:
    result = await cli("posts", "list", env={"RESONANZ_PUBLISHING_ADDR": unused_address})
    assert result.exit_code == 2
    assert f"the publishing service at {unused_address} is unavailable" in result.output
    assert "make run" in result.output
    assert "RESONANZ_PUBLISHING_ADDR" in result.output


async def test_get_unknown_post_is_not_found(cli: RunCli) -> None:
    result = await cli("posts", "get", "nope")
    assert result.exit_code == 1
    assert result.output.startswith("error: not_found: post 'nope' not found")


async def test_get_shows_targets(cli: RunCli, platform: Platform) -> None:
    assert (await cli("posts", "create", "--text", "Guten Tag", "--target", "simulated:@acme")).exit_code == 0
    [post_id] = platform.publishing.posts
    result = await cli("posts", "get", post_id)
    assert result.exit_code == 0
    assert f"post {post_id}" in result.output
    assert "Guten Tag" in result.output
    assert "pending" in result.output


async def test_watch_follows_the_post_until_final(cli: RunCli, platform: Platform) -> None:
    assert (await cli("posts", "create", "--text", "live", "--target", "simulated:@acme")).exit_code == 0
    [post_id] = platform.publishing.posts
    result = await cli("posts", "watch", post_id)
    assert result.exit_code == 0, result.output
    statuses = [line.split()[2] for line in result.output.splitlines() if "simulated:@acme=" in line]
    assert statuses == ["scheduled", "publishing", "published"]
    assert f"https://simulated.example/@acme/{post_id}" in result.output


async def test_create_with_watch(cli: RunCli, platform: Platform) -> None:
    result = await cli("posts", "create", "--text", "now", "--target", "simulated:@acme", "--watch")
    assert result.exit_code == 0, result.output
    [post] = platform.publishing.posts.values()
    assert post.status == content_pb2.POST_STATUS_PUBLISHED
    assert "simulated:@acme=published" in result.output


async def test_list_filters_by_status_and_limits(cli: RunCli, platform: Platform) -> None:
    for i in range(5):
        assert (
            await cli("posts", "create", "--text", f"post {i}", "--target", "simulated:@a")
        ).exit_code == 0
    first = next(iter(platform.publishing.posts))
    assert (await cli("posts", "watch", first)).exit_code == 0  # now published
    published = await cli("posts", "list", "--status", "published")
    assert published.exit_code == 0, published.output
    assert "1 post(s)" in published.output
    assert "post 0" in published.output
    limited = await cli("posts", "list", "--limit", "3")
    assert "3 post(s)" in limited.output
    assert "post 4" in limited.output  # newest first
    assert "post 0" not in limited.output
    assert platform.publishing.list_requests[-1].page_size == 3
    assert platform.publishing.list_requests[0].status == content_pb2.POST_STATUS_PUBLISHED


async def test_list_rejects_an_unknown_status(cli: RunCli, platform: Platform) -> None:
    result = await cli("posts", "list", "--status", "done")
    assert result.exit_code == 1
    assert "partly_published" in result.output
    assert platform.publishing.list_requests == []
