"""Post and target lifecycles: which statuses are final, and a post's status from its targets'."""

from __future__ import annotations

from collections.abc import Iterable

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus

FINAL_TARGET_STATUSES: frozenset[int] = frozenset(
    {
        TargetStatus.TARGET_STATUS_PUBLISHED,
        TargetStatus.TARGET_STATUS_FAILED,
        TargetStatus.TARGET_STATUS_CANCELLED,
    }
)

FINAL_POST_STATUSES: frozenset[int] = frozenset(
    {
        PostStatus.POST_STATUS_PUBLISHED,
        PostStatus.POST_STATUS_PARTLY_PUBLISHED,
        PostStatus.POST_STATUS_FAILED,
        PostStatus.POST_STATUS_CANCELLED,
    }
)


def is_final_post_status(status: int) -> bool:
    return status in FINAL_POST_STATUSES


def post_status_from_targets(statuses: Iterable[int], attempts: Iterable[int] | None = None) -> int:
    """The post's status given its targets' statuses (and, optionally, their attempt counts).

    * every target PUBLISHED: PUBLISHED;
    * every target final, some PUBLISHED: PARTLY_PUBLISHED;
    * every target final, none PUBLISHED: FAILED (CANCELLED when all were cancelled);
    * every target still PENDING and never attempted: SCHEDULED;
    * otherwise (some queued, publishing, waiting for a deferred retry -- PENDING with attempts -- or
      done while others are not): PUBLISHING.

    ``attempts`` runs parallel to ``statuses``; without it every PENDING target counts as never
    attempted.
    """
    values = list(statuses)
    if not values:
        raise ValueError("a post has at least one target")
    tries = list(attempts) if attempts is not None else [0] * len(values)
    if len(tries) != len(values):
        raise ValueError("statuses and attempts differ in length")
    published = TargetStatus.TARGET_STATUS_PUBLISHED
    if all(s == published for s in values):
        return PostStatus.POST_STATUS_PUBLISHED
    if all(s in FINAL_TARGET_STATUSES for s in values):
        if any(s == published for s in values):
            return PostStatus.POST_STATUS_PARTLY_PUBLISHED
        if all(s == TargetStatus.TARGET_STATUS_CANCELLED for s in values):
            return PostStatus.POST_STATUS_CANCELLED
        return PostStatus.POST_STATUS_FAILED
    pending = TargetStatus.TARGET_STATUS_PENDING
    if all(s == pending and n == 0 for s, n in zip(values, tries, strict=True)):
        return PostStatus.POST_STATUS_SCHEDULED
    return PostStatus.POST_STATUS_PUBLISHING
