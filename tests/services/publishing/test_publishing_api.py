"""PublishingService workflow over the real gRPC server, broker and database (SQLite and PostgreSQL):
drafts, review with approvals, rejection, edits, cancelling, comments, the audit log, UTM on links,
and what validation refuses.

The app is the real ``PublishingApp``, started as the ``running`` fixture does, with its own key ring.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import resonanz_publishing.app as app_module
from cryptography.fernet import Fernet
from publishing_helpers import Running, TestNetwork, create_request, md, plugin_manager, wait_for_post
from pydantic import SecretStr
from resonanz.common.v1.content_pb2 import NetworkVariant, PostStatus, UtmParameters
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz.publishing.v1.workspace_service_pb2 import Role
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.credentials import CredentialCipher
from resonanz_publishing.workspace import MemberStore, Policy, PolicyStep, PolicyStore
from resonanz_sdk.grpc import call_metadata
from resonanz_sdk.settings import Settings

P = PostStatus


@pytest.fixture
async def api(
    settings: Settings,
    testnet: TestNetwork,
    othernet: TestNetwork,
    tmp_path: Path,
) -> AsyncIterator[Running]:
    settings = settings.model_copy(
        update={"credential_keys": SecretStr(Fernet.generate_key().decode()), "data_dir": tmp_path}
    )
    app = app_module.PublishingApp(settings, plugin_manager(testnet, othernet))
    await app.start()
    try:
        accounts = AccountStore(app.engine, CredentialCipher.from_settings(settings))
        for tenant in ("acme", "globex"):
            for network, handle in (("testnet", "@acme"), ("othernet", "@acme")):
                await accounts.connect(tenant, network, handle, "Acme", {"token": "t"}, "setup")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            yield Running(app, pb_grpc.PublishingServiceStub(channel), settings, {"testnet": testnet})
    finally:
        await app.stop()


def who(actor: str, tenant: str = "acme") -> tuple[tuple[str, str], ...]:
    return call_metadata(tenant, actor)


async def team(api: Running, policy: Policy) -> None:
    """Members boss (admin), ed and eve (editors), ann, bob, cat (approvers); the approval policy."""
    members = MemberStore(api.app.engine)
    await members.set_role("acme", "boss", Role.ROLE_ADMIN, "boss")
    for user, role in (("ed", Role.ROLE_EDITOR), ("eve", Role.ROLE_EDITOR), ("ann", Role.ROLE_APPROVER),
                       ("bob", Role.ROLE_APPROVER), ("cat", Role.ROLE_APPROVER)):  # fmt: skip
        await members.set_role("acme", user, role, "boss")
    await PolicyStore(api.app.engine).set("acme", policy, "boss")


async def audit_actions(api: Running, post_id: str) -> list[tuple[str, str, int, int]]:
    events = (
        await api.stub.ListAuditEvents(pb.ListAuditEventsRequest(post_id=post_id), metadata=md())
    ).events
    return [(e.action, e.actor, e.from_status, e.to_status) for e in events]


async def expect_error(call: Any, code: grpc.StatusCode, text: str = "") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    assert text in (info.value.details() or ""), info.value.details()
    return info.value


async def test_draft_submit_two_step_review_then_published(api: Running) -> None:
    await team(api, Policy(steps=(PolicyStep("legal", 1), PolicyStep("brand", 2))))
    draft = create_request("Launch day")
    draft.draft = True
    post = (await api.stub.CreatePost(draft, metadata=who("ed"))).post
    assert (post.status, post.created_by) == (P.POST_STATUS_DRAFT, "ed")
    post = (await api.stub.SubmitPost(pb.SubmitPostRequest(post_id=post.id), metadata=who("ed"))).post
    assert (post.status, post.approval_steps) == (P.POST_STATUS_IN_REVIEW, 2)

    approve = api.stub.ApprovePost
    await expect_error(approve(pb.ApprovePostRequest(post_id=post.id), metadata=who("eve")),
                       grpc.StatusCode.PERMISSION_DENIED, "approver")  # fmt: skip
    await approve(pb.ApprovePostRequest(post_id=post.id, note="ok legally"), metadata=who("ann"))
    await expect_error(approve(pb.ApprovePostRequest(post_id=post.id), metadata=who("ann")),
                       grpc.StatusCode.ALREADY_EXISTS)  # fmt: skip
    post = (await approve(pb.ApprovePostRequest(post_id=post.id), metadata=who("bob"))).post
    assert post.status == P.POST_STATUS_IN_REVIEW
    assert [(a.step, a.approver) for a in post.approvals] == [(0, "ann"), (1, "bob")]
    await asyncio.sleep(0.5)  # in review: never dispatched
    assert api.networks["testnet"].calls == []
    post = (await approve(pb.ApprovePostRequest(post_id=post.id), metadata=who("cat"))).post
    assert post.status in (P.POST_STATUS_SCHEDULED, P.POST_STATUS_PUBLISHING, P.POST_STATUS_PUBLISHED)
    done = await wait_for_post(api.stub, post.id, lambda p: p.status == P.POST_STATUS_PUBLISHED)
    assert done.targets[0].scheduled_at.seconds > 0
    actions = [(a, actor) for a, actor, _, _ in await audit_actions(api, post.id)]
    assert actions[:6] == [("created", "ed"), ("submitted", "ed"), ("approved", "ann"), ("approved", "bob"),
                           ("approved", "cat"), ("scheduled", "cat")]  # fmt: skip


async def test_self_approval_refused_unless_allowed(api: Running) -> None:
    await team(api, Policy(steps=(PolicyStep("review", 1),)))
    post = (await api.stub.CreatePost(create_request("Mine"), metadata=who("ann"))).post
    assert post.status == P.POST_STATUS_IN_REVIEW
    await expect_error(api.stub.ApprovePost(pb.ApprovePostRequest(post_id=post.id), metadata=who("ann")),
                       grpc.StatusCode.PERMISSION_DENIED, "self-approval")  # fmt: skip
    await PolicyStore(api.app.engine).set(
        "acme", Policy(steps=(PolicyStep("review", 1),), allow_self_approval=True), "boss"
    )
    post = (await api.stub.ApprovePost(pb.ApprovePostRequest(post_id=post.id), metadata=who("ann"))).post
    assert post.status != P.POST_STATUS_IN_REVIEW


async def test_reject_back_to_draft_with_comment_and_edit_resets_approvals(api: Running) -> None:
    await team(api, Policy(steps=(PolicyStep("review", 2),)))
    post = (await api.stub.CreatePost(create_request("Erster Versuch"), metadata=who("ed"))).post
    await expect_error(api.stub.RejectPost(pb.RejectPostRequest(post_id=post.id), metadata=who("ann")),
                       grpc.StatusCode.INVALID_ARGUMENT, "reason")  # fmt: skip
    await api.stub.ApprovePost(pb.ApprovePostRequest(post_id=post.id), metadata=who("ann"))
    update = pb.UpdatePostRequest(post_id=post.id, post=create_request("Zweiter Versuch"))
    post = (await api.stub.UpdatePost(update, metadata=who("ed"))).post
    assert (post.status, post.text, list(post.approvals)) == (P.POST_STATUS_IN_REVIEW, "Zweiter Versuch", [])
    post = (
        await api.stub.RejectPost(
            pb.RejectPostRequest(post_id=post.id, reason="Tippfehler"), metadata=who("bob")
        )
    ).post
    assert post.status == P.POST_STATUS_DRAFT
    await api.stub.AddComment(pb.AddCommentRequest(post_id=post.id, text="Behoben"), metadata=who("ed"))
    comments = (await api.stub.ListComments(pb.ListCommentsRequest(post_id=post.id), metadata=md())).comments
    assert [(c.author, c.text) for c in comments] == [("bob", "Tippfehler"), ("ed", "Behoben")]
    actions = [a for a, _, _, _ in await audit_actions(api, post.id)]
    assert actions == ["created", "submitted", "approved", "updated", "submitted", "rejected", "commented"]
    assert api.networks["testnet"].calls == []


async def test_cancel_a_scheduled_post_and_edit_it_before(api: Running) -> None:
    request = create_request("Später")
    request.scheduled_at.GetCurrentTime()
    request.scheduled_at.seconds += 3600
    post = (await api.stub.CreatePost(request, metadata=md())).post
    assert post.status == P.POST_STATUS_SCHEDULED
    assert post.targets[0].scheduled_at == request.scheduled_at
    update = pb.UpdatePostRequest(post_id=post.id, post=create_request("Noch später", ("othernet", "@acme")))
    update.post.scheduled_at.CopyFrom(request.scheduled_at)
    post = (await api.stub.UpdatePost(update, metadata=md())).post
    assert [(t.network, t.account) for t in post.targets] == [("othernet", "@acme")]
    post = (
        await api.stub.CancelPost(pb.CancelPostRequest(post_id=post.id, reason="abgesagt"), metadata=md())
    ).post
    assert post.status == P.POST_STATUS_CANCELLED
    await expect_error(api.stub.CancelPost(pb.CancelPostRequest(post_id=post.id), metadata=md()),
                       grpc.StatusCode.FAILED_PRECONDITION)  # fmt: skip
    await expect_error(api.stub.UpdatePost(update, metadata=md()), grpc.StatusCode.FAILED_PRECONDITION)


async def test_utm_parameters_reach_the_network(api: Running) -> None:
    request = create_request("Neu: https://example.com/shop?id=1#top.")
    request.utm.CopyFrom(UtmParameters(campaign="spring"))
    post = (await api.stub.CreatePost(request, metadata=md())).post
    assert post.utm.campaign == "spring"
    await wait_for_post(api.stub, post.id, lambda p: p.status == P.POST_STATUS_PUBLISHED)
    (text,) = api.networks["testnet"].texts.values()
    assert (
        text
        == "Neu: https://example.com/shop?id=1&utm_source=testnet&utm_medium=social&utm_campaign=spring#top."
    )


async def test_invalid_input_is_refused_naming_field_and_network_and_nothing_is_written(api: Running) -> None:
    cases: list[tuple[pb.CreatePostRequest, str, str]] = [
        (create_request("x", ("testnet", "@nobody")), "targets[0].account", "not connected"),
        (
            pb.CreatePostRequest(
                text="Hallo",
                targets=[pb.TargetSpec(network="othernet", account="@acme")],
                variants=[NetworkVariant(network="othernet", text="y" * 30)],
            ),
            "variants[0].text",
            "othernet",
        ),
        (create_request("x", campaign="nope"), "campaign_id", "no campaign"),
    ]
    for request, field, text in cases:
        error = await expect_error(
            api.stub.CreatePost(request, metadata=md()), grpc.StatusCode.INVALID_ARGUMENT, text
        )
        assert field in (error.details() or "")
    local = create_request("x")
    local.local_time.date_time = "2027-03-28T02:30"
    local.local_time.time_zone = "Europe/Berlin"
    await expect_error(
        api.stub.CreatePost(local, metadata=md()), grpc.StatusCode.INVALID_ARGUMENT, "does not exist"
    )
    listed = (await api.stub.ListPosts(pb.ListPostsRequest(), metadata=md())).posts
    assert list(listed) == []
    events = (await api.stub.ListAuditEvents(pb.ListAuditEventsRequest(), metadata=md())).events
    assert [e for e in events if e.post_id] == []


async def test_list_filters_and_audit_paging(api: Running) -> None:
    first = create_request("eins")
    first.labels.append("sommer")
    first.draft = True
    a = (await api.stub.CreatePost(first, metadata=md())).post
    second = create_request("zwei", ("othernet", "@acme"))
    second.draft = True
    b = (await api.stub.CreatePost(second, metadata=md())).post
    by_label = (await api.stub.ListPosts(pb.ListPostsRequest(label="sommer"), metadata=md())).posts
    assert [p.id for p in by_label] == [a.id]
    by_net = (
        await api.stub.ListPosts(pb.ListPostsRequest(network="othernet", account="@acme"), metadata=md())
    ).posts
    assert [p.id for p in by_net] == [b.id]
    seen: list[str] = []
    token = ""
    while True:  # the whole workspace, one event per page, oldest first
        page = await api.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page_size=1, page_token=token), metadata=md()
        )
        assert len(page.events) <= 1
        seen.extend(e.post_id for e in page.events if e.post_id)
        token = page.next_page_token
        if not token:
            break
    assert seen == [a.id, b.id]
    await expect_error(
        api.stub.GetPost(pb.GetPostRequest(post_id=a.id), metadata=md("globex")), grpc.StatusCode.NOT_FOUND
    )
