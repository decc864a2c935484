"""The rules of a post's lifecycle before it is dispatched, as pure functions.

DRAFT -> (submit) -> IN_REVIEW -> (last approval) -> APPROVED -> SCHEDULED -> PUBLISHING -> final
DRAFT -> (submit, no review required) -> SCHEDULED
IN_REVIEW -> (reject) -> DRAFT
any non-final status -> (cancel) -> CANCELLED (or the status its targets give when some went ahead)

Approval steps: the policy current at each approval decides (a policy change applies to posts already
in review at their next approval); ``post.approval_steps`` records the number of steps when the post
entered review, for display. The current step is the first one with fewer approvals than it needs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz_sdk.errors import AlreadyExistsError, FailedPreconditionError, PermissionDeniedError

from resonanz_publishing.status import FINAL_POST_STATUSES

STATUS_NAMES: dict[int, str] = {
    value: name.removeprefix("POST_STATUS_") for name, value in PostStatus.items()
}

#: Statuses in which a post may still be edited (when no target has been dispatched).
EDITABLE = frozenset(
    {
        PostStatus.POST_STATUS_DRAFT,
        PostStatus.POST_STATUS_IN_REVIEW,
        PostStatus.POST_STATUS_APPROVED,
        PostStatus.POST_STATUS_SCHEDULED,
    }
)


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, str(status))


@dataclass(frozen=True)
class TargetState:
    status: int
    attempts: int


def submitted_status(requires_review: bool) -> int:
    """Where a submitted post goes: into review, or straight to scheduling."""
    return PostStatus.POST_STATUS_IN_REVIEW if requires_review else PostStatus.POST_STATUS_SCHEDULED


def untouched(targets: Sequence[TargetState]) -> bool:
    """True while no target has been dispatched or attempted."""
    return all(t.status == TargetStatus.TARGET_STATUS_PENDING and t.attempts == 0 for t in targets)


def check_editable(status: int, targets: Sequence[TargetState]) -> None:
    if status not in EDITABLE:
        raise FailedPreconditionError(f"a {status_name(status)} post cannot be edited")
    if not untouched(targets):
        raise FailedPreconditionError("the post cannot be edited: it was already dispatched")


def status_after_update(status: int, requires_review: bool) -> int:
    """An edited draft stays a draft; anything else goes back into review or is re-scheduled."""
    if status == PostStatus.POST_STATUS_DRAFT:
        return PostStatus.POST_STATUS_DRAFT
    return submitted_status(requires_review)


def check_submittable(status: int) -> None:
    if status != PostStatus.POST_STATUS_DRAFT:
        raise FailedPreconditionError(f"only a DRAFT can be submitted; the post is {status_name(status)}")


def check_in_review(status: int, action: str) -> None:
    if status != PostStatus.POST_STATUS_IN_REVIEW:
        raise FailedPreconditionError(
            f"only a post IN_REVIEW can be {action}; the post is {status_name(status)}"
        )


@dataclass(frozen=True)
class StepRule:
    name: str
    approvals_required: int


@dataclass(frozen=True)
class Approved:
    """What one approval did."""

    step: int
    #: Every step now has its approvals: the post is approved.
    complete: bool


def current_step(steps: Sequence[StepRule], approvers_by_step: Sequence[Collection[str]]) -> int | None:
    """Index of the first step with fewer approvals than required; ``None`` when all are complete."""
    for index, step in enumerate(steps):
        have = len(approvers_by_step[index]) if index < len(approvers_by_step) else 0
        if have < max(step.approvals_required, 1):
            return index
    return None


def approve(
    *,
    steps: Sequence[StepRule],
    approvers_by_step: Sequence[Collection[str]],
    approver: str,
    author: str,
    allow_self_approval: bool,
) -> Approved:
    """Check that ``approver`` may approve now; the step approved and whether the review is complete.

    Raises PermissionDeniedError for the author's own post (unless the policy allows it),
    AlreadyExistsError when the approver already approved a step of this round: each step needs
    different people, so one approver can never push a post through a multi-step review alone.
    """
    if not allow_self_approval and author and approver == author:
        raise PermissionDeniedError(
            f"{approver!r} wrote this post and may not approve it (self-approval is off)"
        )
    index = current_step(steps, approvers_by_step)
    if index is None:
        return Approved(step=max(len(steps) - 1, 0), complete=True)
    for done, approvers in enumerate(approvers_by_step):
        if approver in approvers:
            raise AlreadyExistsError(f"{approver!r} already approved step {done + 1} of this review")
    have = [set(a) for a in approvers_by_step] + [set() for _ in range(len(steps) - len(approvers_by_step))]
    have[index].add(approver)
    return Approved(step=index, complete=current_step(steps, have) is None)


def check_cancellable(status: int) -> None:
    if status in FINAL_POST_STATUSES:
        raise FailedPreconditionError(f"the post is already {status_name(status)}")
