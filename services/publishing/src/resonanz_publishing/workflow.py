"""The post workflow: create, edit, submit, approve, reject, cancel, reply, delete from the networks.

Each transition runs in one transaction that also writes its audit rows, and notifies the post's
watchers afterwards. Entering SCHEDULED goes through one function, :meth:`PostWorkflow._schedule_in`:
it refuses a post that is no longer valid (manifests, accounts, stored media, campaign) and sets each
target's due time; the dispatcher owns the post from there on.

Races with the dispatcher: a change that must only happen before dispatch (edit, cancel) locks the
targets and the post on PostgreSQL (same order as the dispatcher) and uses conditional UPDATEs that
only touch PENDING targets, checking how many rows they changed, on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from resonanz.common.v1.content_pb2 import MediaItem, Post, PostStatus, TargetStatus
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, ReplyToMentionRequest, TargetSpec
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import FailedPreconditionError, ValidationError
from resonanz_sdk.grpc import Validator
from resonanz_sdk.manifest import Manifest
from resonanz_sdk.plugins import PluginManager
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing import lifecycle
from resonanz_publishing.audit import ANONYMOUS_ACTOR, record
from resonanz_publishing.campaigns import campaign_utm, find_in
from resonanz_publishing.comments import add_comment_in
from resonanz_publishing.convert import (
    media_from_json,
    messages_to_json,
    now_utc,
    post_to_proto,
    variants_from_json,
)
from resonanz_publishing.lifecycle import StepRule, TargetState
from resonanz_publishing.models import ApprovalRow, CampaignRow, PostRow, TargetRow
from resonanz_publishing.notifier import ChangeNotifier
from resonanz_publishing.scheduling import MODE_AT, MODE_NOW, MODE_QUEUE, Schedule, due_time
from resonanz_publishing.status import post_status_from_targets
from resonanz_publishing.store import (
    PostStore,
    approvals_of,
    load_post,
    new_post_id,
    post_id_by_idempotency_key,
)
from resonanz_publishing.utm import utm_from_json, utm_to_json
from resonanz_publishing.validation import PostContext, media_ids, validate_create_post, validate_reply
from resonanz_publishing.workspace import Policy, PolicyStore

P = PostStatus
_CANCELLABLE = (TargetStatus.TARGET_STATUS_PENDING, TargetStatus.TARGET_STATUS_QUEUED)


class AccountLookup(Protocol):
    async def usable_accounts(
        self, tenant: str, pairs: Sequence[tuple[str, str]], *, session: AsyncSession | None = None
    ) -> dict[tuple[str, str], int]: ...


class MediaLookup(Protocol):
    async def lookup(
        self, tenant: str, ids: set[str], *, session: AsyncSession | None = None
    ) -> dict[str, MediaItem]: ...


class ClaimSlot(Protocol):
    async def __call__(
        self, session: AsyncSession, tenant: str, network: str, handle: str, after: datetime
    ) -> datetime | None: ...


class PublishedPostDeleter(Protocol):
    async def delete(
        self, tenant: str, post_id: str, targets: Sequence[tuple[str, str]], actor: str
    ) -> None: ...


@dataclass(frozen=True)
class Checked:
    """A request that passed validation, and what validation looked up."""

    request: CreatePostRequest
    schedule: Schedule


def request_from_row(post: PostRow) -> CreatePostRequest:
    """The stored post as a CreatePost request, to check it again before it is scheduled."""
    request = CreatePostRequest(
        text=post.text,
        media=media_from_json(post.media),
        variants=variants_from_json(post.variants),
        targets=[TargetSpec(network=t.network, account=t.account) for t in _ordered(post)],
        campaign_id=post.campaign_id,
        labels=list(post.labels),
    )
    if post.utm:
        request.utm.CopyFrom(utm_from_json(post.utm))
    return request


def _target_status_name(status: int) -> str:
    for name, value in TargetStatus.items():
        if value == status:
            return name.removeprefix("TARGET_STATUS_")
    return str(status)


def _ordered(post: PostRow) -> list[TargetRow]:
    return sorted(post.targets, key=lambda t: t.position)


def _steps(policy: Policy) -> list[StepRule]:
    return [StepRule(s.name, s.approvals_required) for s in policy.steps]


class PostWorkflow:
    def __init__(
        self,
        engine: AsyncEngine,
        plugins: PluginManager,
        notifier: ChangeNotifier,
        *,
        accounts: AccountLookup,
        media: MediaLookup,
        policies: PolicyStore,
        claim_slot: ClaimSlot,
        deleter: PublishedPostDeleter | None = None,
        on_scheduled: Callable[[datetime], None] | None = None,
    ) -> None:
        """``on_scheduled`` is called with the earliest due time of each post that became SCHEDULED
        (after the commit), so that the dispatcher can be woken for posts that are due already."""
        self._sessions = session_factory(engine)
        self._store = PostStore(engine)
        self._plugins = plugins
        self._notifier = notifier
        self._accounts = accounts
        self._media = media
        self._policies = policies
        self._claim_slot = claim_slot
        self._deleter = deleter
        self._on_scheduled = on_scheduled

    # -- checks ------------------------------------------------------------------------------------

    def _manifests(self) -> dict[str, Manifest]:
        return {name: network.manifest for name, network in self._plugins.networks.items()}

    async def _context(self, tenant: str, request: CreatePostRequest, *, check_schedule: bool) -> PostContext:
        async with self._sessions() as session:
            return await self._context_in(session, tenant, request, check_schedule=check_schedule)

    async def _context_in(
        self, session: AsyncSession, tenant: str, request: CreatePostRequest, *, check_schedule: bool
    ) -> PostContext:
        """What validating ``request`` needs to know, read in ``session`` (one connection)."""
        pairs = [(t.network, t.account) for t in request.targets]
        accounts = await self._accounts.usable_accounts(tenant, pairs, session=session)
        media = await self._media.lookup(tenant, media_ids(request), session=session)
        campaign: CampaignRow | None = None
        if request.campaign_id:
            campaign = await find_in(session, tenant, request.campaign_id)
        return PostContext(
            accounts=accounts,
            media=media,
            campaign_exists=campaign is not None,
            campaign_utm=campaign_utm(campaign),
            check_schedule=check_schedule,
        )

    async def check(self, tenant: str, request: CreatePostRequest) -> Checked:
        """Validate a request (ValidationError naming every wrong field)."""
        context = await self._context(tenant, request, check_schedule=True)
        checked, schedule = validate_create_post(request, self._manifests(), context)
        return Checked(checked, schedule)

    async def _recheck(self, tenant: str, post_id: str) -> str | None:
        """Why the stored post may not be scheduled now (``None``: it may)."""
        async with self._sessions() as session:
            post = await load_post(session, tenant, post_id, lock=False)
            request = request_from_row(post)
        context = await self._context(tenant, request, check_schedule=False)
        try:
            validate_create_post(request, self._manifests(), context)
        except ValidationError as exc:
            return str(exc)
        return None

    # -- transitions -------------------------------------------------------------------------------

    async def create(self, tenant: str, actor: str, request: CreatePostRequest) -> tuple[Post, bool]:
        """The new post and ``True``; or, for an idempotency key used before, that post and ``False``."""
        key = request.idempotency_key or None
        # The key and everything validation looks up are read on one connection.
        async with self._sessions() as session:
            existing = await post_id_by_idempotency_key(session, tenant, key) if key is not None else None
            if existing is None:
                context = await self._context_in(session, tenant, request, check_schedule=True)
        if existing is not None:
            return await self._store.view(tenant, existing), False
        checked, schedule = validate_create_post(request, self._manifests(), context)
        return await self._insert(tenant, actor, Checked(checked, schedule), key=key, draft=request.draft)

    async def reply(self, tenant: str, actor: str, request: ReplyToMentionRequest) -> tuple[Post, bool]:
        """Like :meth:`create`: the reply post and whether it was created by this call."""
        key = request.idempotency_key or None
        probe = CreatePostRequest(media=request.media)
        async with self._sessions() as session:
            existing = await post_id_by_idempotency_key(session, tenant, key) if key is not None else None
            if existing is None:
                pairs = [(request.network, request.account)]
                accounts = await self._accounts.usable_accounts(tenant, pairs, session=session)
                media = await self._media.lookup(tenant, media_ids(probe), session=session)
        if existing is not None:
            return await self._store.view(tenant, existing), False
        post_request = validate_reply(request, self._manifests(), PostContext(accounts=accounts, media=media))
        checked = Checked(post_request, Schedule(MODE_NOW))
        return await self._insert(
            tenant, actor, checked, key=key, draft=False, in_reply_to=request.in_reply_to
        )

    async def _insert(
        self,
        tenant: str,
        actor: str,
        checked: Checked,
        *,
        key: str | None,
        draft: bool,
        in_reply_to: str = "",
    ) -> tuple[Post, bool]:
        request, schedule = checked.request, checked.schedule
        now = now_utc()
        post = PostRow(
            id=new_post_id(),
            tenant=tenant,
            text=request.text,
            media=messages_to_json(request.media),
            variants=messages_to_json(request.variants),
            campaign_id=request.campaign_id,
            labels=list(request.labels),
            status=P.POST_STATUS_DRAFT,
            scheduled_at=schedule.at or now,
            created_at=now,
            updated_at=now,
            idempotency_key=key,
            utm=utm_to_json(request.utm) if request.HasField("utm") else {},
            created_by=actor,
            approval_steps=0,
            schedule_mode=schedule.mode,
            time_zone=schedule.time_zone,
            in_reply_to=in_reply_to,
        )
        # Every column is set here, so that the answer can be built from these objects after the
        # commit (no re-read; an unloaded attribute would need I/O).
        post.targets = [
            TargetRow(
                tenant=tenant,
                position=i,
                network=t.network,
                account=t.account,
                status=TargetStatus.TARGET_STATUS_PENDING,
                attempts=0,
                external_id="",
                url="",
                error="",
                published_at=None,
                updated_at=now,
                scheduled_at=None,
                due_at=None,
                next_attempt_at=None,
                deleted_at=None,
            )
            for i, t in enumerate(request.targets)
        ]
        scheduled = False
        try:
            async with self._sessions.begin() as session:
                # Read first: on SQLite the write lock is taken by the first INSERT and held to the commit.
                policy = None if draft else await self._policies.policy_in(session, tenant)
                session.add(post)
                detail = f"reply to {in_reply_to}" if in_reply_to else ""
                record(
                    session, tenant=tenant, action="created", actor=actor, post_id=post.id,
                    to_status=P.POST_STATUS_DRAFT, detail=detail,
                )  # fmt: skip
                if policy is not None:
                    review = policy.review_replies if in_reply_to else True
                    scheduled = await self._submit_in(session, post, actor, policy, review=review)
        except IntegrityError:
            if key is None:
                raise
            existing = await self._store.find_by_idempotency_key(tenant, key)
            if existing is None:
                raise
            return await self._store.view(tenant, existing.id), False
        self._changed(post.id, post.scheduled_at if scheduled else None)
        # A new post has no approvals yet; the rows just written are the answer.
        return post_to_proto(post), True

    async def update(self, tenant: str, actor: str, post_id: str, request: CreatePostRequest) -> Post:
        checked = await self.check(tenant, request)
        new = checked.request
        scheduled = False
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=True)
            before = post.status
            lifecycle.check_editable(before, [TargetState(t.status, t.attempts) for t in post.targets])
            # Only targets still untouched lose their due time; if the dispatcher got one first, stop.
            cleared = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.post_id == post.id,
                        TargetRow.status == TargetStatus.TARGET_STATUS_PENDING,
                        TargetRow.attempts == 0,
                    )
                    .values(due_at=None, scheduled_at=None)
                    .returning(TargetRow.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if len(cleared) != len(post.targets):
                raise FailedPreconditionError("the post cannot be edited: it was already dispatched")
            await session.refresh(post, ["targets"])
            self._replace_content(post, new, checked.schedule)
            await session.execute(delete(ApprovalRow).where(ApprovalRow.post_id == post.id))
            policy = await self._policies.policy_in(session, tenant)
            after = lifecycle.status_after_update(before, policy.requires_review)
            record(
                session, tenant=tenant, action="updated", actor=actor, post_id=post.id,
                from_status=before, to_status=before,
            )  # fmt: skip
            if after == P.POST_STATUS_IN_REVIEW:
                self._enter_review(
                    session, post, actor, policy, from_status=before, detail="edited: review again"
                )
            elif after == P.POST_STATUS_SCHEDULED:
                await self._schedule_in(session, post, actor, from_status=before)
                scheduled = True
        self._changed(post_id, post.scheduled_at if scheduled else None)
        return await self._store.view(tenant, post_id)

    def _replace_content(self, post: PostRow, request: CreatePostRequest, schedule: Schedule) -> None:
        now = now_utc()
        post.text = request.text
        post.media = messages_to_json(request.media)
        post.variants = messages_to_json(request.variants)
        post.campaign_id = request.campaign_id
        post.labels = list(request.labels)
        post.utm = utm_to_json(request.utm) if request.HasField("utm") else {}
        post.schedule_mode = schedule.mode
        post.time_zone = schedule.time_zone
        post.scheduled_at = schedule.at or now
        post.updated_at = now
        existing = {(t.network, t.account): t for t in post.targets}
        targets: list[TargetRow] = []
        for i, spec in enumerate(request.targets):
            row = existing.get((spec.network, spec.account))
            if row is None:
                row = TargetRow(
                    tenant=post.tenant,
                    network=spec.network,
                    account=spec.account,
                    status=TargetStatus.TARGET_STATUS_PENDING,
                    attempts=0,
                    updated_at=now,
                )
            row.position = i
            targets.append(row)
        post.targets = targets  # removed targets are deleted (delete-orphan)

    async def submit(self, tenant: str, actor: str, post_id: str) -> Post:
        problem = await self._recheck(tenant, post_id)
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=True)
            lifecycle.check_submittable(post.status)
            policy = await self._policies.policy_in(session, tenant)
            scheduled = await self._submit_in(session, post, actor, policy, review=True, problem=problem)
        self._changed(post_id, post.scheduled_at if scheduled else None)
        return await self._store.view(tenant, post_id)

    async def _submit_in(
        self,
        session: AsyncSession,
        post: PostRow,
        actor: str,
        policy: Policy,
        *,
        review: bool,
        problem: str | None = None,
    ) -> bool:
        """DRAFT -> IN_REVIEW or SCHEDULED; whether it was scheduled."""
        if review and policy.requires_review:
            self._enter_review(session, post, actor, policy, from_status=post.status, detail="")
            return False
        await self._schedule_in(session, post, actor, from_status=post.status, problem=problem)
        return True

    def _enter_review(
        self,
        session: AsyncSession,
        post: PostRow,
        actor: str,
        policy: Policy,
        *,
        from_status: int,
        detail: str,
    ) -> None:
        post.status = P.POST_STATUS_IN_REVIEW
        post.approval_steps = len(policy.steps)
        post.updated_at = now_utc()
        steps = ", ".join(f"{s.name} ({s.approvals_required})" for s in policy.steps)
        record(
            session, tenant=post.tenant, action="submitted", actor=actor, post_id=post.id,
            from_status=from_status, to_status=P.POST_STATUS_IN_REVIEW,
            detail="; ".join(x for x in (detail, f"approval steps: {steps}") if x),
        )  # fmt: skip

    async def approve(self, tenant: str, actor: str, post_id: str, note: str) -> Post:
        approver = actor or ANONYMOUS_ACTOR
        problem = await self._recheck(tenant, post_id)
        scheduled = False
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=True)
            lifecycle.check_in_review(post.status, "approved")
            policy = await self._policies.policy_in(session, tenant)
            steps = _steps(policy)
            rounds = (await approvals_of(session, [post.id])).get(post.id, [])
            by_step: list[set[str]] = [set() for _ in steps]
            for a in rounds:
                if a.step < len(by_step):
                    by_step[a.step].add(a.approver)
            result = lifecycle.approve(
                steps=steps,
                approvers_by_step=by_step,
                approver=approver,
                author=post.created_by,
                allow_self_approval=policy.allow_self_approval,
            )
            session.add(ApprovalRow(post_id=post.id, tenant=tenant, step=result.step, approver=approver,
                                    note=note, approved_at=now_utc()))  # fmt: skip
            to_status = P.POST_STATUS_APPROVED if result.complete else P.POST_STATUS_IN_REVIEW
            step_name = steps[result.step].name if steps else "review"
            detail = f"step {result.step + 1} of {len(steps)} ({step_name})" + (f": {note}" if note else "")
            record(
                session, tenant=tenant, action="approved", actor=approver, post_id=post.id,
                from_status=P.POST_STATUS_IN_REVIEW, to_status=to_status, detail=detail,
            )  # fmt: skip
            post.updated_at = now_utc()
            if result.complete:
                post.status = P.POST_STATUS_APPROVED
                await self._schedule_in(
                    session, post, approver, from_status=P.POST_STATUS_APPROVED, problem=problem
                )
                scheduled = True
        self._changed(post_id, post.scheduled_at if scheduled else None)
        return await self._store.view(tenant, post_id)

    async def reject(self, tenant: str, actor: str, post_id: str, reason: str) -> Post:
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=True)
            lifecycle.check_in_review(post.status, "rejected")
            await session.execute(delete(ApprovalRow).where(ApprovalRow.post_id == post.id))
            post.status = P.POST_STATUS_DRAFT
            post.updated_at = now_utc()
            add_comment_in(session, tenant=tenant, post_id=post.id, author=actor, text=reason)
            record(
                session, tenant=tenant, action="rejected", actor=actor, post_id=post.id,
                from_status=P.POST_STATUS_IN_REVIEW, to_status=P.POST_STATUS_DRAFT, detail=reason,
            )  # fmt: skip
        self._changed(post_id, None)
        return await self._store.view(tenant, post_id)

    async def cancel(self, tenant: str, actor: str, post_id: str, reason: str) -> Post:
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=True)
            before = post.status
            lifecycle.check_cancellable(before)
            now = now_utc()
            cancelled = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.post_id == post.id,
                        TargetRow.status.in_(_CANCELLABLE),
                    )
                    .values(status=TargetStatus.TARGET_STATUS_CANCELLED, due_at=None, next_attempt_at=None,
                            updated_at=now)
                    .returning(TargetRow.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()  # fmt: skip
            await session.refresh(post, ["targets"])
            statuses = [t.status for t in post.targets]
            post.status = post_status_from_targets(statuses)
            post.updated_at = now
            detail = f"{len(cancelled)} of {len(statuses)} targets cancelled" + (
                f": {reason}" if reason else ""
            )
            record(
                session, tenant=tenant, action="cancelled", actor=actor, post_id=post.id,
                from_status=before, to_status=post.status, detail=detail,
            )  # fmt: skip
        self._changed(post_id, None)
        return await self._store.view(tenant, post_id)

    async def delete_published(
        self, tenant: str, actor: str, post_id: str, specs: Sequence[TargetSpec]
    ) -> Post:
        async with self._sessions() as session:
            post = await load_post(session, tenant, post_id, lock=False)
            status = {(t.network, t.account): t.status for t in post.targets}
        v = Validator()
        chosen: list[tuple[str, str]] = []
        for i, spec in enumerate(specs):
            pair = (spec.network, spec.account)
            if pair not in status:
                v.add(f"targets[{i}]", f"the post has no target {spec.network}:{spec.account}")
            else:
                chosen.append(pair)
        v.check()
        published = TargetStatus.TARGET_STATUS_PUBLISHED
        for i, pair in enumerate(chosen):
            if status[pair] != published:
                raise FailedPreconditionError(
                    f"targets[{i}]: {pair[0]}:{pair[1]} is not published "
                    f"(it is {_target_status_name(status[pair])})"
                )
        if not specs:
            chosen = [pair for pair, s in status.items() if s == published]
            if not chosen:
                raise FailedPreconditionError("the post has no published target to delete")
        if self._deleter is None:
            raise FailedPreconditionError("deleting published posts is not available")
        await self._deleter.delete(tenant, post_id, chosen, actor)
        self._notifier.notify(post_id)
        return await self._store.view(tenant, post_id)

    # -- scheduling --------------------------------------------------------------------------------

    async def _schedule_in(
        self,
        session: AsyncSession,
        post: PostRow,
        actor: str,
        *,
        from_status: int,
        problem: str | None = None,
    ) -> None:
        """Enter SCHEDULED: refuse a post that is no longer valid, set every target's due time.

        ``problem`` is what re-checking the stored post against the current manifests, accounts,
        media and campaign found (made before the transaction).
        """
        if problem:
            raise FailedPreconditionError(f"the post cannot be scheduled: {problem}")
        now = now_utc()
        times: list[datetime] = []
        late = False
        for i, target in enumerate(_ordered(post)):
            if post.schedule_mode == MODE_QUEUE:
                slot = await self._claim_slot(session, post.tenant, target.network, target.account, now)
                if slot is None:
                    raise FailedPreconditionError(
                        f"targets[{i}].account: {target.network} account {target.account!r} has no posting "
                        "queue with a free slot: set up its queue or pick a time"
                    )
                at = slot
            else:
                requested = post.scheduled_at if post.schedule_mode == MODE_AT else None
                at, passed = due_time(Schedule(post.schedule_mode, requested), now)
                late = late or passed
            target.scheduled_at = at
            target.due_at = at
            target.updated_at = now
            times.append(at)
        post.scheduled_at = min(times)
        post.status = P.POST_STATUS_SCHEDULED
        post.updated_at = now
        detail = f"due {post.scheduled_at.isoformat()}"
        if post.schedule_mode == MODE_QUEUE:
            detail = "queue slots: " + ", ".join(
                f"{t.network}:{t.account} {t.scheduled_at.isoformat() if t.scheduled_at else ''}"
                for t in _ordered(post)
            )
        if late:
            detail += " (the requested time had passed when the review finished: publishing now)"
        record(
            session, tenant=post.tenant, action="scheduled", actor=actor, post_id=post.id,
            from_status=from_status, to_status=P.POST_STATUS_SCHEDULED, detail=detail,
        )  # fmt: skip

    def _changed(self, post_id: str, due: datetime | None) -> None:
        """Wake the post's watchers; ``due``: the post became SCHEDULED, its earliest due time."""
        self._notifier.notify(post_id)
        if due is not None and self._on_scheduled is not None:
            self._on_scheduled(due)
