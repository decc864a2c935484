"""Unit tests of the lifecycle rules (lifecycle.py) and of validation against accounts, media, UTM."""

from __future__ import annotations

import pytest
from resonanz.common.v1.content_pb2 import (
    AccountStatus,
    MediaItem,
    MediaType,
    PostStatus,
    TargetStatus,
    UtmParameters,
)
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, TargetSpec
from resonanz_publishing import lifecycle
from resonanz_publishing.lifecycle import StepRule, TargetState
from resonanz_publishing.validation import PostContext, validate_create_post
from resonanz_sdk.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    PermissionDeniedError,
    ValidationError,
)
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextRules

P = PostStatus
STEPS = [StepRule("legal", 1), StepRule("brand", 2)]


def test_two_steps_need_distinct_approvers_in_order() -> None:
    first = lifecycle.approve(steps=STEPS, approvers_by_step=[set(), set()], approver="a", author="w",
                              allow_self_approval=False)  # fmt: skip
    assert (first.step, first.complete) == (0, False)
    with pytest.raises(AlreadyExistsError):
        lifecycle.approve(steps=STEPS, approvers_by_step=[{"a"}, set()], approver="a", author="w",
                          allow_self_approval=False)  # fmt: skip
    second = lifecycle.approve(steps=STEPS, approvers_by_step=[{"a"}, set()], approver="b", author="w",
                               allow_self_approval=False)  # fmt: skip
    assert (second.step, second.complete) == (1, False)
    last = lifecycle.approve(steps=STEPS, approvers_by_step=[{"a"}, {"b"}], approver="c", author="w",
                             allow_self_approval=False)  # fmt: skip
    assert (last.step, last.complete) == (1, True)


def test_self_approval() -> None:
    with pytest.raises(PermissionDeniedError):
        lifecycle.approve(
            steps=STEPS, approvers_by_step=[], approver="w", author="w", allow_self_approval=False
        )
    ok = lifecycle.approve(steps=[StepRule("x", 1)], approvers_by_step=[], approver="w", author="w",
                           allow_self_approval=True)  # fmt: skip
    assert ok.complete


def test_edit_submit_cancel_rules() -> None:
    fresh = [TargetState(TargetStatus.TARGET_STATUS_PENDING, 0)]
    lifecycle.check_editable(P.POST_STATUS_SCHEDULED, fresh)
    with pytest.raises(FailedPreconditionError, match="already dispatched"):
        lifecycle.check_editable(P.POST_STATUS_SCHEDULED, [TargetState(TargetStatus.TARGET_STATUS_QUEUED, 0)])
    with pytest.raises(FailedPreconditionError, match="already dispatched"):
        lifecycle.check_editable(
            P.POST_STATUS_SCHEDULED, [TargetState(TargetStatus.TARGET_STATUS_PENDING, 1)]
        )
    with pytest.raises(FailedPreconditionError):
        lifecycle.check_editable(P.POST_STATUS_PUBLISHED, fresh)
    assert lifecycle.status_after_update(P.POST_STATUS_DRAFT, True) == P.POST_STATUS_DRAFT
    assert lifecycle.status_after_update(P.POST_STATUS_SCHEDULED, True) == P.POST_STATUS_IN_REVIEW
    assert lifecycle.status_after_update(P.POST_STATUS_IN_REVIEW, False) == P.POST_STATUS_SCHEDULED
    with pytest.raises(FailedPreconditionError):
        lifecycle.check_submittable(P.POST_STATUS_IN_REVIEW)
    with pytest.raises(FailedPreconditionError):
        lifecycle.check_cancellable(P.POST_STATUS_CANCELLED)
    lifecycle.check_cancellable(P.POST_STATUS_PUBLISHING)


NET = Manifest(
    network="net",
    display_name="Net",
    features=frozenset({Feature.PUBLISH}),
    text=TextRules(max_length=60),
    media=MediaRules(max_items=2, allowed=frozenset({MediaKind.IMAGE}), max_bytes={MediaKind.IMAGE: 1000}),
)


def problems(request: CreatePostRequest, context: PostContext) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        validate_create_post(request, {"net": NET}, context)
    return {v.field: v.description for v in info.value.violations}


def test_accounts_must_be_connected() -> None:
    targets = [TargetSpec(network="net", account=a) for a in ("@a", "@b", "@c", "@d")]
    accounts = {("net", "@a"): AccountStatus.ACCOUNT_STATUS_CONNECTED,
                ("net", "@b"): AccountStatus.ACCOUNT_STATUS_NEEDS_REAUTH,
                ("net", "@c"): AccountStatus.ACCOUNT_STATUS_DISCONNECTED}  # fmt: skip
    found = problems(CreatePostRequest(text="x", targets=targets), PostContext(accounts=accounts))
    assert set(found) == {"targets[1].account", "targets[2].account", "targets[3].account"}
    assert "re-authentication" in found["targets[1].account"]
    assert "disconnected" in found["targets[2].account"]
    assert "not connected" in found["targets[3].account"]


def test_stored_media_are_filled_in_and_unknown_ids_refused() -> None:
    stored = MediaItem(
        id="m1", type=MediaType.MEDIA_TYPE_IMAGE, uri="media://m1", size_bytes=5000, mime_type="image/png"
    )
    request = CreatePostRequest(text="x", targets=[TargetSpec(network="net", account="@a")],
                                media=[MediaItem(id="m1", size_bytes=1)])  # fmt: skip
    found = problems(request, PostContext(media={"m1": stored}))
    assert "5000 bytes" in found["media[0].size_bytes"]  # the stored size, not the caller's
    request.media[0].id = "zz"
    assert "zz" in problems(request, PostContext(media={}))["media[0].id"]
    small = MediaItem(id="m1", type=MediaType.MEDIA_TYPE_IMAGE, uri="media://m1", size_bytes=10)
    request.media[0].id = "m1"
    checked, _ = validate_create_post(request, {"net": NET}, PostContext(media={"m1": small}))
    assert checked.media[0].uri == "media://m1"
    assert checked.media[0].type == MediaType.MEDIA_TYPE_IMAGE


def test_text_length_counts_utm_parameters_and_campaign_must_exist() -> None:
    text = "Mehr: https://example.com/x"  # 27 characters: fits 60 without UTM
    request = CreatePostRequest(text=text, targets=[TargetSpec(network="net", account="@a")])
    validate_create_post(request, {"net": NET}, PostContext())
    request.utm.CopyFrom(UtmParameters(campaign="spring"))
    assert "net allows 60" in problems(request, PostContext())["text"]
    request.ClearField("utm")
    request.campaign_id = "c1"
    found = problems(request, PostContext(campaign_exists=False))
    assert set(found) == {"campaign_id"}
    request.utm.source = "x" * 201
    assert "utm.source" in problems(request, PostContext())
