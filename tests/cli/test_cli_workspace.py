"""``resonanz workspace`` against the in-process workspace double over real gRPC: members and roles,
the approval policy and campaigns.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import resonanz.publishing.v1.workspace_service_pb2 as workspace_pb2
from cli_doubles import Platform, RunCli


async def test_members_set_list_remove(cli: RunCli, platform: Platform) -> None:
    empty = await cli("workspace", "members")
    assert empty.exit_code == 0
    assert "0 member(s)" in empty.output
    assert "open workspace: everyone may do everything" in empty.output
    first_editor = await cli("workspace", "member", "set", "ed", "editor")
    assert first_editor.exit_code == 1
    assert "failed_precondition: the first member of a workspace must be an admin" in first_editor.output
    admin = await cli("workspace", "member", "set", "anna", "admin")
    assert admin.exit_code == 0, admin.output
    assert "anna" in admin.output
    assert "admin" in admin.output
    assert (await cli("--as", "anna", "workspace", "member", "set", "petra", "approver")).exit_code == 0
    assert (await cli("--as", "anna", "workspace", "member", "set", "ed", "editor")).exit_code == 0
    requests = platform.workspace.recorder.requests("SetMemberRole")
    assert [(r.user, r.role) for r in requests] == [
        ("ed", workspace_pb2.ROLE_EDITOR),
        ("anna", workspace_pb2.ROLE_ADMIN),
        ("petra", workspace_pb2.ROLE_APPROVER),
        ("ed", workspace_pb2.ROLE_EDITOR),
    ]
    not_admin = await cli("--as", "petra", "workspace", "member", "remove", "ed")
    assert not_admin.exit_code == 1
    assert not_admin.output.startswith("error: permission_denied: petra needs the admin role")
    removed = await cli("--as", "anna", "workspace", "member", "remove", "ed")
    assert removed.exit_code == 0
    assert "removed member ed" in removed.output
    listed = await cli("workspace", "members")
    assert "2 member(s)" in listed.output
    assert "approver" in listed.output
    assert " ed " not in listed.output
    unknown = await cli("--as", "anna", "workspace", "member", "remove", "nobody")
    assert unknown.exit_code == 1
    assert "not_found" in unknown.output


async def test_member_set_refuses_an_unknown_role(cli: RunCli, platform: Platform) -> None:
    result = await cli("workspace", "member", "set", "anna", "owner")
    assert result.exit_code == 1
    assert "editor" in result.output
    assert platform.workspace.recorder.calls == []


async def test_policy_set_and_show(cli: RunCli, platform: Platform) -> None:
    shown = await cli("workspace", "policy", "show")
    assert shown.exit_code == 0
    assert "0 (posts are scheduled when submitted)" in shown.output
    result = await cli(
        "workspace",
        "policy",
        "set",
        "--step",
        "brand=1",
        "--step",
        "legal=2",
        "--allow-self-approval",
        "--review-replies",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.workspace.recorder.requests("SetApprovalPolicy")
    assert [(s.name, s.approvals_required) for s in request.policy.steps] == [("brand", 1), ("legal", 2)]
    assert request.policy.allow_self_approval
    assert request.policy.review_replies
    shown = await cli("workspace", "policy", "show")
    assert "legal" in shown.output
    assert "allowed" in shown.output
    assert "reviewed" in shown.output
    cleared = await cli("workspace", "policy", "set")
    assert cleared.exit_code == 0
    cleared_request = platform.workspace.recorder.requests("SetApprovalPolicy")[-1]
    assert cleared_request.policy == workspace_pb2.ApprovalPolicy()
    assert "not allowed (four eyes)" in cleared.output


@pytest.mark.parametrize("step", ["legal", "legal=0", "legal=11", "legal=x", "=1"])
async def test_policy_set_refuses_bad_steps(cli: RunCli, platform: Platform, step: str) -> None:
    result = await cli("workspace", "policy", "set", "--step", step)
    assert result.exit_code == 1
    assert "--step" in result.output
    assert platform.workspace.recorder.calls == []


async def test_campaigns_create_get_list(cli: RunCli, platform: Platform) -> None:
    result = await cli(
        "workspace",
        "campaigns",
        "create",
        "Sommer 2026",
        "--description",
        "Sommerschlussverkauf",
        "--hashtag",
        "#sommer",
        "--hashtag",
        "#sale",
        "--link",
        "https://acme.example/sommer",
        "--starts",
        "2026-06-01T00:00+02:00",
        "--ends",
        "2026-08-31T22:00Z",
        "--utm-source",
        "social",
        "--utm-campaign",
        "sommer26",
        "--key",
        "camp-1",
    )
    assert result.exit_code == 0, result.output
    [request] = platform.workspace.recorder.requests("CreateCampaign")
    assert (request.name, request.description, request.idempotency_key) == (
        "Sommer 2026",
        "Sommerschlussverkauf",
        "camp-1",
    )
    assert list(request.hashtags) == ["#sommer", "#sale"]
    assert list(request.links) == ["https://acme.example/sommer"]
    assert request.starts_at.ToDatetime(tzinfo=UTC) == datetime(2026, 5, 31, 22, 0, tzinfo=UTC)
    assert request.ends_at.ToDatetime(tzinfo=UTC) == datetime(2026, 8, 31, 22, 0, tzinfo=UTC)
    assert (request.utm.source, request.utm.campaign, request.utm.medium) == ("social", "sommer26", "")
    [campaign_id] = platform.workspace.campaigns
    assert f"campaign {campaign_id}" in result.output
    got = await cli("workspace", "campaigns", "get", campaign_id)
    assert got.exit_code == 0
    assert "Sommerschlussverkauf" in got.output
    assert "source=social, campaign=sommer26" in got.output
    assert (await cli("workspace", "campaigns", "create", "Winter")).exit_code == 0
    listed = await cli("workspace", "campaigns", "list", "--limit", "1")
    assert listed.exit_code == 0
    assert "1 campaign(s)" in listed.output
    assert platform.workspace.recorder.requests("ListCampaigns")[-1].page_size == 1
    everything = await cli("workspace", "campaigns", "list")
    assert "2 campaign(s)" in everything.output
    elsewhere = await cli("--tenant", "globex", "workspace", "campaigns", "get", campaign_id)
    assert elsewhere.exit_code == 1
    assert "not_found" in elsewhere.output


async def test_campaign_errors(cli: RunCli, platform: Platform) -> None:
    backwards = await cli(
        "workspace",
        "campaigns",
        "create",
        "X",
        "--starts",
        "2026-06-02T00:00Z",
        "--ends",
        "2026-06-01T00:00Z",
    )
    assert backwards.exit_code == 1
    assert "--ends" in backwards.output
    assert platform.workspace.recorder.calls == []
    empty = await cli("workspace", "campaigns", "create", " ")
    assert empty.exit_code == 1
    assert "  - name: must not be empty" in empty.output.splitlines()
