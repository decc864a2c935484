"""``resonanz posts`` beyond create/list/get/watch: the new create options, update, the review workflow,
comments, the audit log, delete-published and reply, and the acting user (``--as``), against the
in-process doubles (cli_doubles) over real gRPC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
from cli_doubles import LOGIN_NAME, Platform, RunCli
from resonanz.common.v1 import content_pb2


async def _create(cli: RunCli, platform: Platform, *args: str) -> str:
    result = await cli("posts", "create", "--text", "Hallo", "--target", "simulated:@acme", *args)
    assert result.exit_code == 0, result.output
    return list(platform.publishing.posts)[-1]


def _two_step_policy(platform: Platform) -> None:
    platform.workspace.policies["default"] = workspace_pb2.ApprovalPolicy(
        steps=[
            workspace_pb2.ApprovalStep(name="brand", approvals_required=1),
            workspace_pb2.ApprovalStep(name="legal", approvals_required=1),
        ]
    )


async def test_create_maps_every_new_option(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "posts",
        "create",
        "--text",
        "Neu: https://acme.example/blog",
        "--target",
        "simulated:@acme",
        "--local",
        "2026-12-01T09:30",
        "--tz",
        "Europe/Berlin",
        "--variant",
        "simulated=Hallo Simulated!",
        "--utm-source",
        "newsletter",
        "--utm-medium",
        "social",
        "--utm-campaign",
        "winter",
        "--utm-term",
        "schuhe",
        "--utm-content",
        "a",
        "--campaign",
        "c-1",
        "--label",
        "winter",
        "--key",
        "k-42",
        "--draft",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.publishing.recorder.requests("CreatePost")
    assert request.local_time == publishing_pb2.LocalDateTime(
        date_time="2026-12-01T09:30", time_zone="Europe/Berlin"
    )
    assert not request.HasField("scheduled_at")
    assert not request.next_free_slot
    assert [(v.network, v.text) for v in request.variants] == [("simulated", "Hallo Simulated!")]
    assert request.utm == content_pb2.UtmParameters(
        source="newsletter", medium="social", campaign="winter", term="schuhe", content="a"
    )
    assert (request.campaign_id, list(request.labels), request.idempotency_key) == ("c-1", ["winter"], "k-42")
    assert request.draft
    assert "draft" in result.output
    assert "2026-12-01 08:30:00Z" in result.output  # 09:30 in Berlin in winter
    assert "text on simulated" in result.output
    assert "source=newsletter" in result.output
    assert f"by {LOGIN_NAME}" in result.output


async def test_create_next_slot_and_media(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    image = tmp_path / "launch.png"
    image.write_bytes(b"\x89PNG" + b"x" * 100)
    uploaded = await cli("media", "upload", str(image))
    assert uploaded.exit_code == 0, uploaded.output
    [media_id] = platform.media.stored
    result = await cli(
        "posts", "create", "-t", "Bild", "--target", "simulated:@acme", "--next-slot", "--media-id", media_id
    )
    assert result.exit_code == 0, result.output
    [request] = platform.publishing.recorder.requests("CreatePost")
    assert request.next_free_slot
    assert [m.id for m in request.media] == [media_id]
    assert f"{media_id} image image/png 104 bytes" in result.output
    assert "2030-01-07 08:00:00Z" in result.output  # the target's slot (due column)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--at", "2030-01-01T10:00Z", "--next-slot"], "--at / --next-slot"),
        (["--local", "2030-01-01T10:00", "--tz", "UTC", "--at", "2030-01-01T10:00Z"], "--at / --local"),
        (["--local", "2030-01-01T10:00"], "--local"),
        (["--tz", "Europe/Berlin"], "--tz"),
        (["--local", "2030-01-01T10:00", "--tz", "Mars/Olympus"], "--tz"),
        (["--local", "2026-03-29T02:30", "--tz", "Europe/Berlin"], "--local"),  # DST gap
        (["--local", "2026-03-29T02:30+01:00", "--tz", "Europe/Berlin"], "--local"),
        (["--variant", "simulated"], "--variant"),
        (["--variant", "Sim=x"], "--variant"),
        (["--draft", "--watch"], "--watch"),
    ],
)
async def test_create_refuses_bad_schedules_and_variants_before_sending(
    cli: RunCli, platform: Platform, args: list[str], hint: str
) -> None:
    result = await cli("posts", "create", "--text", "x", "--target", "simulated:@acme", *args)
    assert result.exit_code == 1, result.output
    assert hint in result.output
    assert "Traceback" not in result.output
    assert platform.publishing.recorder.calls == []


async def test_server_violations_of_new_fields_are_printed(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "posts",
        "create",
        "--text",
        "x" * 300,
        "--target",
        "simulated:@acme",
        "--variant",
        "mastodon=Hallo",
        "--media-id",
        "nope",
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("error: invalid_argument:")
    assert "  - text: is 300 characters as simulated counts them; simulated allows 280" in lines
    assert "  - variants[0].network: is not a target network" in lines
    assert "  - media[0].id: no media 'nope'" in lines


async def test_actor_comes_from_as_then_env_then_login_name(cli: RunCli, platform: Platform) -> None:
    args = ("posts", "create", "--text", "x", "--target", "simulated:@acme")
    assert (await cli("--as", "anna", *args)).exit_code == 0
    assert (await cli("--actor", "bernd", *args, env={"RESONANZ_ACTOR": "carla"})).exit_code == 0
    assert (await cli(*args, env={"RESONANZ_ACTOR": "carla"})).exit_code == 0
    assert (await cli(*args)).exit_code == 0
    assert [c.actor for c in platform.publishing.recorder.calls] == ["anna", "bernd", "carla", LOGIN_NAME]
    assert [p.created_by for p in platform.publishing.posts.values()] == [
        "anna",
        "bernd",
        "carla",
        LOGIN_NAME,
    ]


async def test_an_invalid_actor_is_refused_before_any_call(cli: RunCli, platform: Platform) -> None:
    result = await cli("--as", "not valid!", "posts", "list")
    assert result.exit_code == 1
    assert "--as / RESONANZ_ACTOR" in result.output
    assert platform.publishing.recorder.calls == []
    login = await cli("posts", "list", env={"LOGNAME": "Jane Doe"})
    assert login.exit_code == 1
    assert "login name (set --as or RESONANZ_ACTOR)" in login.output
    assert "'Jane Doe'" in login.output
    assert platform.publishing.recorder.calls == []


def _members(platform: Platform, **roles: workspace_pb2.Role.ValueType) -> None:
    members = platform.workspace.members.setdefault("default", {})
    for user, role in roles.items():
        members[user] = workspace_pb2.Member(user=user, role=role)


async def test_review_workflow_with_roles(cli: RunCli, platform: Platform) -> None:
    platform.workspace.policies["default"] = workspace_pb2.ApprovalPolicy(
        steps=[
            workspace_pb2.ApprovalStep(name="brand", approvals_required=2),
            workspace_pb2.ApprovalStep(name="legal", approvals_required=1),
        ]
    )
    _members(
        platform,
        anna=workspace_pb2.ROLE_ADMIN,
        petra=workspace_pb2.ROLE_APPROVER,
        ed=workspace_pb2.ROLE_EDITOR,
    )
    outsider = await cli("posts", "create", "-t", "Hallo", "--target", "simulated:@acme")  # login name
    assert outsider.exit_code == 1
    assert outsider.output.startswith(f"error: permission_denied: {LOGIN_NAME} needs the editor role")
    assert platform.publishing.posts == {}
    created = await cli(
        "--as", "ed", "posts", "create", "-t", "Hallo", "--target", "simulated:@acme", "--draft"
    )
    assert created.exit_code == 0, created.output
    [post_id] = platform.publishing.posts

    submitted = await cli("--as", "ed", "posts", "submit", post_id)
    assert submitted.exit_code == 0, submitted.output
    assert "in_review" in submitted.output
    assert "2 step(s); 0 approval(s) in this round" in submitted.output

    editor = await cli("--as", "ed", "posts", "approve", post_id)
    assert editor.exit_code == 1
    assert editor.output.startswith("error: permission_denied: ed needs the approver role")

    first = await cli("--as", "petra", "posts", "approve", post_id, "--note", "Marke ok")
    assert first.exit_code == 0, first.output
    assert "step 1 by petra" in first.output
    assert "Marke ok" in first.output
    again = await cli("--as", "petra", "posts", "approve", post_id)
    assert again.exit_code == 1
    assert "failed_precondition: petra has already approved this step" in again.output

    rejected = await cli("--as", "anna", "posts", "reject", post_id, "--reason", "Preis fehlt")
    assert rejected.exit_code == 0, rejected.output
    assert platform.publishing.posts[post_id].status == content_pb2.POST_STATUS_DRAFT
    assert "draft" in rejected.output

    assert (await cli("--as", "ed", "posts", "submit", post_id)).exit_code == 0
    for approver in ("petra", "anna"):
        assert (await cli("--as", approver, "posts", "approve", post_id)).exit_code == 0
        assert platform.publishing.posts[post_id].status == content_pb2.POST_STATUS_IN_REVIEW
    last = await cli("--as", "petra", "posts", "approve", post_id, "--note", "legal ok")
    assert last.exit_code == 0, last.output
    assert platform.publishing.posts[post_id].status == content_pb2.POST_STATUS_SCHEDULED
    assert "step 2 by petra" in last.output
    approvals = [c for c in platform.publishing.recorder.calls if c.method == "ApprovePost"]
    assert [(c.actor, getattr(c.request, "note", None)) for c in approvals] == [
        ("ed", ""),
        ("petra", "Marke ok"),
        ("petra", ""),
        ("petra", ""),
        ("anna", ""),
        ("petra", "legal ok"),
    ]

    comments = await cli("posts", "comments", post_id)
    assert comments.exit_code == 0, comments.output
    assert "1 comment(s)" in comments.output
    assert "Preis fehlt" in comments.output
    assert "anna" in comments.output


async def test_four_eyes(cli: RunCli, platform: Platform) -> None:
    platform.workspace.policies["default"] = workspace_pb2.ApprovalPolicy(
        steps=[workspace_pb2.ApprovalStep(name="brand", approvals_required=1)]
    )
    post_id = await _create(cli, platform)  # open workspace, by the login name
    own = await cli("posts", "approve", post_id)
    assert own.exit_code == 1
    assert own.output.startswith("error: permission_denied: the author may not approve their own post")
    other = await cli("--as", "petra", "posts", "approve", post_id)
    assert other.exit_code == 0, other.output
    assert "scheduled" in other.output


async def test_reject_needs_a_reason(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform)
    missing = await cli("posts", "reject", post_id)
    assert missing.exit_code == 1
    assert "--reason" in missing.output
    empty = await cli("posts", "reject", post_id, "--reason", " ")
    assert empty.exit_code == 1
    assert "  - reason: must not be empty: say what to change" in empty.output.splitlines()


async def test_cancel_and_cancel_again(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform)
    result = await cli("posts", "cancel", post_id, "--reason", "verschoben")
    assert result.exit_code == 0, result.output
    assert "cancelled" in result.output
    [request] = platform.publishing.recorder.requests("CancelPost")
    assert (request.post_id, request.reason) == (post_id, "verschoben")
    again = await cli("posts", "cancel", post_id)
    assert again.exit_code == 1
    assert again.output.startswith(f"error: failed_precondition: post {post_id} is already final")


async def test_update_keeps_what_is_not_given(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(
        cli, platform, "--label", "a", "--label", "b", "--at", "2030-05-01T10:00Z", "--utm-source", "nl"
    )
    result = await cli("posts", "update", post_id, "--text", "Neuer Text", "--utm-medium", "social")
    assert result.exit_code == 0, result.output
    [request] = platform.publishing.recorder.requests("UpdatePost")
    assert request.post_id == post_id
    sent = request.post
    assert sent.text == "Neuer Text"
    assert [(t.network, t.account) for t in sent.targets] == [("simulated", "@acme")]
    assert list(sent.labels) == ["a", "b"]
    assert sent.scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert (sent.utm.source, sent.utm.medium) == ("nl", "social")
    assert "Neuer Text" in result.output


async def test_update_replaces_lists_clears_and_reschedules(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform, "--label", "a", "--at", "2030-05-01T10:00Z", "--campaign", "c")
    result = await cli(
        "posts",
        "update",
        post_id,
        "--target",
        "simulated:@acme_de",
        "--label",
        "z",
        "--clear",
        "campaign",
        "--local",
        "2030-05-02T09:00",
        "--tz",
        "Europe/Berlin",
    )
    assert result.exit_code == 0, result.output
    sent = platform.publishing.recorder.requests("UpdatePost")[0].post
    assert [(t.network, t.account) for t in sent.targets] == [("simulated", "@acme_de")]
    assert list(sent.labels) == ["z"]
    assert sent.campaign_id == ""
    assert not sent.HasField("scheduled_at")
    assert sent.local_time.date_time == "2030-05-02T09:00"


async def test_update_keeps_the_schedule_mode(cli: RunCli, platform: Platform) -> None:
    queued = await _create(cli, platform, "--next-slot", "--target", "simulated:@acme_de")
    asap = await _create(cli, platform)
    fixed = await _create(cli, platform, "--at", "2030-05-01T10:00Z")
    local = await _create(cli, platform, "--local", "2030-07-01T09:30", "--tz", "America/New_York")
    draft = await _create(cli, platform, "--draft")
    # a post at once whose time the service shows ahead stays "at once" (the time alone would say "at")
    platform.publishing.posts[asap].scheduled_at.FromDatetime(datetime(2030, 1, 1, tzinfo=UTC))
    for post_id in (queued, asap, fixed, local, draft):
        result = await cli("posts", "update", post_id, "--text", "neu")
        assert result.exit_code == 0, result.output
    queued_sent, asap_sent, fixed_sent, local_sent, draft_sent = (
        r.post for r in platform.publishing.recorder.requests("UpdatePost")
    )
    assert queued_sent.next_free_slot
    assert not queued_sent.HasField("scheduled_at")
    for at_once in (asap_sent, draft_sent):  # a draft says it goes out at once: no need to ask
        assert not at_once.next_free_slot
        assert not at_once.HasField("scheduled_at")
        assert not at_once.HasField("local_time")
    assert fixed_sent.scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert not fixed_sent.HasField("local_time")
    # a local time goes back as that wall-clock time in its zone, not as the instant
    assert not local_sent.HasField("scheduled_at")
    assert (local_sent.local_time.date_time, local_sent.local_time.time_zone) == (
        "2030-07-01T09:30",
        "America/New_York",
    )
    kept = platform.publishing.posts[local]
    assert (kept.schedule_mode, kept.time_zone) == (content_pb2.SCHEDULE_MODE_AT, "America/New_York")
    assert platform.publishing.posts[draft].schedule_mode == content_pb2.SCHEDULE_MODE_NOW
    now = await cli("posts", "update", fixed, "--now")
    assert now.exit_code == 0, now.output
    assert not platform.publishing.recorder.requests("UpdatePost")[-1].post.HasField("scheduled_at")
    assert platform.publishing.posts[fixed].schedule_mode == content_pb2.SCHEDULE_MODE_NOW
    both = await cli("posts", "update", fixed, "--now", "--next-slot")
    assert both.exit_code == 1
    assert "--now" in both.output


async def test_update_of_a_time_that_has_passed(cli: RunCli, platform: Platform) -> None:
    draft = await _create(cli, platform, "--draft", "--local", "2030-07-01T09:30", "--tz", "Europe/Berlin")
    scheduled = await _create(cli, platform, "--at", "2030-05-01T10:00Z")
    for post_id in (draft, scheduled):
        platform.publishing.posts[post_id].scheduled_at.FromDatetime(datetime(2021, 3, 4, 5, 6, tzinfo=UTC))
    # not scheduled yet: the time cannot be kept (the service refuses a past time), so the CLI asks
    asked = await cli("posts", "update", draft, "--text", "neu")
    assert asked.exit_code == 1
    assert asked.output.startswith(
        f"error: post {draft} was to go out at 2021-03-04 05:06:00Z, which has passed"
    )
    assert "(--now)" in asked.output
    assert platform.publishing.recorder.requests("UpdatePost") == []
    answered = await cli(
        "posts", "update", draft, "--text", "neu", "--local", "2030-08-01T09:30", "--tz", "Europe/Berlin"
    )
    assert answered.exit_code == 0, answered.output
    # scheduled and due: it goes out as soon as possible, as the service would do anyway
    due = await cli("posts", "update", scheduled, "--text", "neu")
    assert due.exit_code == 0, due.output
    sent = platform.publishing.recorder.requests("UpdatePost")[-1].post
    assert not sent.HasField("scheduled_at")
    assert not sent.HasField("local_time")
    assert not sent.next_free_slot


async def test_update_infers_the_schedule_of_an_older_server(cli: RunCli, platform: Platform) -> None:
    platform.publishing.legacy = True  # no schedule_mode on posts
    queued = await _create(cli, platform, "--next-slot", "--target", "simulated:@acme_de")
    asap = await _create(cli, platform)
    fixed = await _create(cli, platform, "--local", "2030-05-01T12:00", "--tz", "Europe/Berlin")
    draft = await _create(cli, platform, "--draft")
    assert platform.publishing.posts[fixed].schedule_mode == content_pb2.SCHEDULE_MODE_UNSPECIFIED
    for post_id in (queued, asap, fixed):
        result = await cli("posts", "update", post_id, "--text", "neu")
        assert result.exit_code == 0, result.output
    queued_sent, asap_sent, fixed_sent = (r.post for r in platform.publishing.recorder.requests("UpdatePost"))
    assert queued_sent.next_free_slot
    assert not queued_sent.HasField("scheduled_at")
    assert not asap_sent.next_free_slot  # scheduled and due: at once
    assert not asap_sent.HasField("scheduled_at")
    assert not asap_sent.HasField("local_time")
    # without the zone the instant is all the CLI knows
    assert fixed_sent.scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert not fixed_sent.HasField("local_time")
    # a draft without a time ahead: at once or into queue slots? the CLI cannot tell, so it asks
    unknown = await cli("posts", "update", draft, "--text", "neu")
    assert unknown.exit_code == 1
    assert unknown.output.startswith(f"error: post {draft} has no time ahead of it")
    assert "(--now)" in unknown.output
    assert "(--next-slot)" in unknown.output
    assert len(platform.publishing.recorder.requests("UpdatePost")) == 3
    assert (await cli("posts", "update", draft, "--text", "neu", "--next-slot")).exit_code == 0
    assert platform.publishing.recorder.requests("UpdatePost")[-1].post.next_free_slot


async def test_get_shows_the_schedule_mode(cli: RunCli, platform: Platform) -> None:
    local = await _create(cli, platform, "--local", "2030-07-01T09:30", "--tz", "America/New_York")
    queued = await _create(cli, platform, "--next-slot")
    fixed = await _create(cli, platform, "--at", "2030-05-01T10:00Z")
    asap = await _create(cli, platform)
    expected = {
        local: "at 2030-07-01 09:30 America/New_York (local time)",
        queued: "next free slot of each account's queue",
        fixed: "at a fixed time",
        asap: "now (as soon as it is scheduled)",
    }
    for post_id, text in expected.items():
        result = await cli("posts", "get", post_id)
        assert result.exit_code == 0, result.output
        [line] = [line for line in result.output.splitlines() if " schedule " in line]
        assert text in line
    shown = json.loads((await cli("posts", "get", local, "--json")).output)
    assert (shown["schedule_mode"], shown["time_zone"]) == ("SCHEDULE_MODE_AT", "America/New_York")
    platform.publishing.legacy = True
    old = await _create(cli, platform)
    assert " schedule " not in (await cli("posts", "get", old)).output


async def test_update_puts_a_scheduled_post_back_into_review(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform)
    assert platform.publishing.posts[post_id].status == content_pb2.POST_STATUS_SCHEDULED
    _two_step_policy(platform)
    result = await cli("posts", "update", post_id, "--text", "geändert")
    assert result.exit_code == 0, result.output
    assert "in_review" in result.output


async def test_update_errors(cli: RunCli, platform: Platform) -> None:
    unknown = await cli("posts", "update", "nope", "--text", "x")
    assert unknown.exit_code == 1
    assert unknown.output.startswith("error: not_found: post 'nope' not found")
    post_id = await _create(cli, platform)
    bad_clear = await cli("posts", "update", post_id, "--clear", "text")
    assert bad_clear.exit_code == 1
    assert "--clear" in bad_clear.output
    invalid = await cli("posts", "update", post_id, "--text", " ", "--target", "mastodon:@a")
    assert invalid.exit_code == 1
    lines = invalid.output.splitlines()
    assert "  - post.text: must not be empty" in lines
    assert "  - post.targets[0].network: no plugin provides 'mastodon'" in lines
    assert (await cli("posts", "watch", post_id)).exit_code == 0  # now published
    late = await cli("posts", "update", post_id, "--text", "zu spät")
    assert late.exit_code == 1
    assert f"failed_precondition: post {post_id} has started publishing" in late.output
    assert platform.publishing.posts[post_id].text == "Hallo"


async def test_comment_and_comments(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform)
    result = await cli("--as", "petra", "posts", "comment", post_id, "Bitte Bild tauschen")
    assert result.exit_code == 0, result.output
    assert "Bitte Bild tauschen" in result.output
    assert (await cli("posts", "comment", post_id, "Erledigt")).exit_code == 0
    listed = await cli("posts", "comments", post_id)
    assert listed.exit_code == 0
    assert "2 comment(s)" in listed.output
    assert listed.output.index("Bitte Bild tauschen") < listed.output.index("Erledigt")
    empty = await cli("posts", "comment", post_id, "  ")
    assert empty.exit_code == 1
    assert "  - text: must not be empty" in empty.output.splitlines()
    other = await cli("--tenant", "globex", "posts", "comments", post_id)
    assert other.exit_code == 1
    assert "not_found" in other.output


async def test_audit_pages_through_the_log(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform, "--draft")
    assert (await cli("--as", "petra", "posts", "submit", post_id)).exit_code == 0
    for i in range(4):
        await _create(cli, platform, "--label", f"n{i}")
    one = await cli("posts", "audit", post_id)
    assert one.exit_code == 0, one.output
    assert "audit log of post" in one.output
    assert "2 event(s)" in one.output
    assert "submitted" in one.output
    assert "draft → scheduled" in one.output
    assert "petra" in one.output
    whole = await cli("posts", "audit", "--limit", "3")
    assert whole.exit_code == 0, whole.output
    assert "3 event(s)" in whole.output
    assert platform.publishing.recorder.requests("ListAuditEvents")[-1].page_size == 3
    everything = await cli("posts", "audit")
    assert "6 event(s)" in everything.output


async def test_audit_follows_page_tokens(cli: RunCli, platform: Platform) -> None:
    post_id = await _create(cli, platform)
    for i in range(600):
        platform.publishing.audit.append(
            publishing_pb2.AuditEvent(id=f"x{i}", post_id=post_id, actor="system", action="retried")
        )
    result = await cli("posts", "audit", post_id, "--limit", "550")
    assert result.exit_code == 0, result.output
    assert "550 event(s)" in result.output
    requests = platform.publishing.recorder.requests("ListAuditEvents")
    assert [(r.page_size, r.page_token) for r in requests] == [(500, ""), (50, "500")]
    everything = await cli("posts", "audit", post_id, "--limit", "10000")
    assert "601 event(s)" in everything.output


async def test_delete_published(cli: RunCli, platform: Platform) -> None:
    created = await cli(
        "posts", "create", "-t", "x", "--target", "simulated:@a", "--target", "simulated:@b", "--watch"
    )
    assert created.exit_code == 0, created.output
    [post_id] = platform.publishing.posts
    only_b = await cli("posts", "delete-published", post_id, "--target", "simulated:@b")
    assert only_b.exit_code == 0, only_b.output
    [request] = platform.publishing.recorder.requests("DeletePublishedPost")
    assert [(t.network, t.account) for t in request.targets] == [("simulated", "@b")]
    assert "deleted" in only_b.output
    post = platform.publishing.posts[post_id]
    assert [t.HasField("deleted_at") for t in post.targets] == [False, True]
    rest = await cli("posts", "delete-published", post_id)
    assert rest.exit_code == 0
    assert list(platform.publishing.recorder.requests("DeletePublishedPost")[1].targets) == []
    nothing = await cli("posts", "delete-published", post_id)
    assert nothing.exit_code == 1
    assert "failed_precondition" in nothing.output
    bad = await cli("posts", "delete-published", post_id, "--target", "simulated")
    assert bad.exit_code == 1
    assert "--target" in bad.output


async def test_reply(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "--as",
        "care",
        "posts",
        "reply",
        "--network",
        "simulated",
        "--account",
        "@acme",
        "--to",
        "1789",
        "Danke für den Hinweis!",
        "--key",
        "r-1",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.publishing.recorder.requests("ReplyToMention")
    assert (request.network, request.account, request.in_reply_to, request.text, request.idempotency_key) == (
        "simulated",
        "@acme",
        "1789",
        "Danke für den Hinweis!",
        "r-1",
    )
    assert "in reply to" in result.output
    assert "1789" in result.output
    refused = await cli("posts", "reply", "--network", "mastodon", "--account", "@a", "--to", "1", "Hallo")
    assert refused.exit_code == 1
    assert "  - network: no plugin provides 'mastodon'" in refused.output.splitlines()
    missing = await cli("posts", "reply", "--network", "simulated", "--account", "@a", "Hallo")
    assert missing.exit_code == 1
    assert "--to" in missing.output
    bad_network = await cli("posts", "reply", "--network", "Sim", "--account", "@a", "--to", "1", "Hallo")
    assert bad_network.exit_code == 1
    assert "--network" in bad_network.output
    no_account = await cli("posts", "reply", "--network", "simulated", "--account", " ", "--to", "1", "Hallo")
    assert no_account.exit_code == 1
    assert "--account" in no_account.output
    assert len(platform.publishing.recorder.requests("ReplyToMention")) == 2


async def test_list_sends_the_new_filters(cli: RunCli, platform: Platform) -> None:
    await _create(cli, platform, "--label", "summer", "--at", "2030-06-10T10:00Z", "--campaign", "c-1")
    await _create(cli, platform, "--label", "winter", "--at", "2030-12-10T10:00Z")
    result = await cli(
        "posts",
        "list",
        "--label",
        "summer",
        "--network",
        "simulated",
        "--account",
        "@acme",
        "--campaign",
        "c-1",
        "--from",
        "2030-06-01T00:00+02:00",
        "--to",
        "2030-07-01T00:00Z",
    )
    assert result.exit_code == 0, result.output
    assert "1 post(s)" in result.output
    request = platform.publishing.list_requests[-1]
    assert (request.label, request.network, request.account, request.campaign_id) == (
        "summer",
        "simulated",
        "@acme",
        "c-1",
    )
    assert request.scheduled_from.ToDatetime(tzinfo=UTC) == datetime(2030, 5, 31, 22, 0, tzinfo=UTC)
    assert request.scheduled_to.ToDatetime(tzinfo=UTC) == datetime(2030, 7, 1, 0, 0, tzinfo=UTC)
    other = await cli("posts", "list", "--network", "simulated", "--account", "@other")
    assert "0 post(s)" in other.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--account", "@acme"], "--account"),
        (["--from", "soon"], "--from"),
        (["--from", "2030-01-02T00:00Z", "--to", "2030-01-01T00:00Z"], "--to"),
    ],
)
async def test_list_refuses_bad_filters(cli: RunCli, platform: Platform, args: list[str], hint: str) -> None:
    result = await cli("posts", "list", *args)
    assert result.exit_code == 1
    assert hint in result.output
    assert platform.publishing.list_requests == []
