"""Delivery after a post is due, on both databases: deferred retries and 429 storms (against the real
broker), account credentials (refresh stored, refresh failure marks NEEDS_REAUTH, missing account fails
at once), replies, stale-claim recovery and pruning, and deleting published posts."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from delivery_helpers import (
    ClockedNetwork,
    Pipeline,
    insert_post,
    open_engine,
    plugins_of,
    post_of,
    targets_of,
    wait_until,
)
from google.rpc import code_pb2  # type: ignore[import-untyped,unused-ignore]
from resonanz.common.v1.content_pb2 import AccountStatus, PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope, PublishRequested
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.convert import idempotency_key, utc
from resonanz_publishing.credentials import CredentialCipher
from resonanz_publishing.deletion import PublishedPostDeleter
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import AuditEventRow, OutboxRow, ProcessedEventRow
from resonanz_publishing.ratelimit import RateLimiter
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.status import post_status_from_targets
from resonanz_publishing.sweeper import Sweeper
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermanentNetworkError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.eventbus import Topic
from resonanz_sdk.grpc.errors import status_for
from resonanz_sdk.manifest import RateLimit
from resonanz_sdk.network import AccountRef, OutgoingPost
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

T = TargetStatus
P = PostStatus


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with open_engine(database_url) as engine:
        yield engine


def worker_for(
    engine: AsyncEngine,
    network: ClockedNetwork,
    *,
    max_attempts: int = 4,
    inline: float = math.inf,
    accounts: AccountStore | None = None,
    limiter: RateLimiter | None = None,
) -> PublishWorker:
    return PublishWorker(
        TargetLedger(engine),
        plugins_of(network),
        BackoffPolicy(max_attempts, 0.01, 0.05),
        accounts=accounts,
        limiter=limiter,
        inline_retry_max_seconds=inline,
    )


async def requests_of(engine: AsyncEngine) -> list[PublishRequested]:
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(OutboxRow)
                .where(OutboxRow.topic == Topic.PUBLISH_REQUESTS.value)
                .order_by(OutboxRow.id)
            )
        ).scalars()
        return [EventEnvelope.FromString(r.envelope).publish_requested for r in rows]


async def audit_of(engine: AsyncEngine, post_id: str) -> list[AuditEventRow]:
    async with session_factory(engine)() as session:
        stmt = select(AuditEventRow).where(AuditEventRow.post_id == post_id).order_by(AuditEventRow.id)
        return list((await session.execute(stmt)).scalars())


async def dispatch_one(engine: AsyncEngine, now: datetime | None = None) -> PublishRequested:
    """Dispatch what is due and return the newest request staged."""
    assert await Dispatcher(engine).dispatch_due(now)
    return (await requests_of(engine))[-1]


def test_pending_targets_that_were_attempted_keep_the_post_publishing() -> None:
    assert post_status_from_targets([T.TARGET_STATUS_PENDING] * 2, [0, 0]) == P.POST_STATUS_SCHEDULED
    assert post_status_from_targets([T.TARGET_STATUS_PENDING] * 2, [0, 1]) == P.POST_STATUS_PUBLISHING
    assert post_status_from_targets([T.TARGET_STATUS_PENDING]) == P.POST_STATUS_SCHEDULED
    published_and_waiting = [T.TARGET_STATUS_PUBLISHED, T.TARGET_STATUS_PENDING]
    assert post_status_from_targets(published_and_waiting, [1, 2]) == P.POST_STATUS_PUBLISHING
    with pytest.raises(ValueError, match="length"):
        post_status_from_targets([T.TARGET_STATUS_PENDING], [0, 1])


# -- deferred retries ----------------------------------------------------------------------------


async def test_a_long_retry_after_is_deferred_to_the_dispatcher(engine: AsyncEngine) -> None:
    network = ClockedNetwork()
    network.faults = [RateLimitedError("clocked", "slow down", retry_after=30)]
    worker = worker_for(engine, network, inline=5.0)
    post_id = await insert_post(engine)
    request = await dispatch_one(engine)

    before = datetime.now(UTC)
    assert await worker.process("acme", request) == "deferred"
    (target,) = await targets_of(engine, post_id)
    assert target.status == T.TARGET_STATUS_PENDING
    assert target.attempts == 1
    assert target.error == "slow down"
    assert target.due_at is not None
    assert target.next_attempt_at is not None
    assert utc(target.due_at) == utc(target.next_attempt_at)
    assert before + timedelta(seconds=30) <= utc(target.due_at) <= datetime.now(UTC) + timedelta(seconds=30)
    assert (await post_of(engine, post_id)).status == P.POST_STATUS_PUBLISHING

    # The acknowledged request, seen again early, does nothing; neither does the dispatcher.
    assert await worker.process("acme", request) == "not_due"
    assert await Dispatcher(engine).dispatch_once() == []
    later = utc(target.due_at) + timedelta(seconds=1)
    retry = await dispatch_one(engine, later)
    assert retry.idempotency_key == request.idempotency_key
    assert "retry: clocked:@acme" in [a.detail for a in await audit_of(engine, post_id)]

    assert await worker.process("acme", retry) == "published"
    (target,) = await targets_of(engine, post_id)
    assert (target.status, target.attempts, target.error) == (T.TARGET_STATUS_PUBLISHED, 2, "")
    assert target.next_attempt_at is None
    assert network.accepted[request.idempotency_key] == 1
    assert (await post_of(engine, post_id)).status == P.POST_STATUS_PUBLISHED


async def test_deferred_retries_give_up_after_max_attempts(engine: AsyncEngine) -> None:
    network = ClockedNetwork()
    network.faults = [TransientNetworkError("clocked", "down", retry_after=60) for _ in range(3)]
    worker = worker_for(engine, network, max_attempts=2, inline=1.0)
    post_id = await insert_post(engine)
    now = datetime.now(UTC)
    assert await worker.process("acme", await dispatch_one(engine, now)) == "deferred"
    assert await worker.process("acme", await dispatch_one(engine, now + timedelta(minutes=2))) == "failed"
    (target,) = await targets_of(engine, post_id)
    assert target.status == T.TARGET_STATUS_FAILED
    assert target.error == "gave up after 2 attempts: down"
    assert (await post_of(engine, post_id)).status == P.POST_STATUS_FAILED


async def test_a_429_storm_is_retried_never_before_retry_after_and_succeeds(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    network = ClockedNetwork()
    # Short waits are slept in the worker, long ones (above 0.3 s) go back through the dispatcher.
    waits = [0.05, 0.6, 0.1, 0.9, 0.05, 0.4, 0.2, 0.7, 0.05, 0.5, 0.1, 0.35]
    network.faults = [RateLimitedError("clocked", "429 too many requests", retry_after=w) for w in waits]
    post_ids = [await insert_post(engine, [("clocked", f"@a{i}")]) for i in range(4)]
    pipeline = await Pipeline.start(
        engine,
        plugins_of(network),
        bootstrap=kafka_bootstrap,
        prefix=topic_prefix,
        policy=BackoffPolicy(max_attempts=20, base_seconds=0.01, max_seconds=0.1),
        inline_retry_max_seconds=0.3,
    )
    try:

        async def all_published() -> bool:
            statuses = [(await post_of(engine, p)).status for p in post_ids]
            return all(s == P.POST_STATUS_PUBLISHED for s in statuses)

        await wait_until(all_published, seconds=60, what="every post to be published")
    finally:
        await pipeline.stop()

    assert not network.faults  # the whole storm was absorbed
    deferred_dispatches = 0
    for i, post_id in enumerate(post_ids):
        key = idempotency_key(post_id, "clocked", f"@a{i}")
        assert network.accepted[key] == 1
        calls = network.call_times(key)
        for (at, outcome), (next_at, _) in itertools.pairwise(calls):
            retry_after = float(outcome.rsplit(":", 1)[1])
            assert next_at - at >= retry_after - 0.01, (outcome, next_at - at)
        (target,) = await targets_of(engine, post_id)
        assert target.attempts == len(calls)
        deferred_dispatches += sum(a.detail.startswith("retry:") for a in await audit_of(engine, post_id))
    assert deferred_dispatches >= 1


# -- credentials, replies ----------------------------------------------------------------------


@pytest.fixture
def accounts(engine: AsyncEngine) -> AccountStore:
    return AccountStore(engine, CredentialCipher([CredentialCipher.generate_key()]))


async def test_expired_token_is_refreshed_and_stored(engine: AsyncEngine, accounts: AccountStore) -> None:
    await accounts.connect("acme", "clocked", "@acme", "ACME", {"token": "old"}, "alice")
    network = ClockedNetwork(valid_token="new", refresh_to="new")
    worker = worker_for(engine, network, accounts=accounts)
    post_id = await insert_post(engine)
    assert await worker.process("acme", await dispatch_one(engine)) == "published"
    assert network.seen_tokens == ["old", "new"]
    assert network.refreshed == 1
    assert (await accounts.credentials_for("acme", "clocked", "@acme")).values == {"token": "new"}
    assert (await accounts.get("acme", "clocked", "@acme")).status == AccountStatus.ACCOUNT_STATUS_CONNECTED
    (target,) = await targets_of(engine, post_id)
    assert (target.status, target.attempts) == (T.TARGET_STATUS_PUBLISHED, 2)

    # The next post goes out with the stored token at once.
    await insert_post(engine)
    assert await worker.process("acme", await dispatch_one(engine)) == "published"
    assert network.seen_tokens[-1] == "new"
    assert network.refreshed == 1


async def test_failed_refresh_marks_the_account_and_fails_the_target(
    engine: AsyncEngine, accounts: AccountStore
) -> None:
    await accounts.connect("acme", "clocked", "@acme", "ACME", {"token": "old"}, "alice")
    network = ClockedNetwork(valid_token="new", refresh_to=None)
    worker = worker_for(engine, network, accounts=accounts)
    post_id = await insert_post(engine)
    assert await worker.process("acme", await dispatch_one(engine)) == "failed"
    (target,) = await targets_of(engine, post_id)
    assert target.status == T.TARGET_STATUS_FAILED
    assert "needs to be reconnected" in target.error
    assert "refresh token revoked" in target.error
    account = await accounts.get("acme", "clocked", "@acme")
    assert account.status == AccountStatus.ACCOUNT_STATUS_NEEDS_REAUTH
    assert "refresh token revoked" in account.status_reason
    assert network.accepted.total() == 0


async def test_missing_or_disconnected_account_fails_at_once(
    engine: AsyncEngine, accounts: AccountStore
) -> None:
    network = ClockedNetwork()
    worker = worker_for(engine, network, accounts=accounts)
    missing = await insert_post(engine, [("clocked", "@nobody")])
    assert await worker.process("acme", await dispatch_one(engine)) == "failed"
    (target,) = await targets_of(engine, missing)
    assert (target.status, target.attempts) == (T.TARGET_STATUS_FAILED, 1)
    assert "not found" in target.error

    await accounts.connect("acme", "clocked", "@gone", "", {"token": "t"}, "alice")
    await accounts.disconnect("acme", "clocked", "@gone", "alice")
    gone = await insert_post(engine, [("clocked", "@gone")])
    assert await worker.process("acme", await dispatch_one(engine)) == "failed"
    (target,) = await targets_of(engine, gone)
    assert "disconnected" in target.error
    assert network.calls == []


async def test_a_reply_goes_through_network_reply_within_the_reply_limit(engine: AsyncEngine) -> None:
    network = ClockedNetwork(rate_limits=(RateLimit("reply", 1, 3600.0),))
    limiter = RateLimiter(engine)
    worker = worker_for(engine, network, limiter=limiter, inline=1.0)
    first = await insert_post(engine, in_reply_to="ext-42", text="@kunde Danke!")
    request = await dispatch_one(engine)
    assert request.in_reply_to == "ext-42"
    assert await worker.process("acme", request) == "published"
    assert [c[0] for c in network.calls] == ["reply"]
    assert network.outgoing[request.idempotency_key].in_reply_to == "ext-42"
    assert (await targets_of(engine, first))[0].status == T.TARGET_STATUS_PUBLISHED

    # The second reply within the hour waits for the window: deferred, nothing sent, no attempt counted.
    second = await insert_post(engine, in_reply_to="ext-43")
    assert await worker.process("acme", await dispatch_one(engine)) == "deferred"
    (target,) = await targets_of(engine, second)
    assert (target.status, target.attempts) == (T.TARGET_STATUS_PENDING, 0)
    assert "rate limit" in target.error
    assert target.due_at is not None
    assert utc(target.due_at) > datetime.now(UTC)
    assert len(network.calls) == 1


# -- stale claims and pruning ------------------------------------------------------------------


async def test_stale_publishing_target_is_recovered_without_posting_twice(engine: AsyncEngine) -> None:
    network = ClockedNetwork()
    post_id = await insert_post(engine)
    request = await dispatch_one(engine)
    ledger = TargetLedger(engine)
    # A worker took it, the network accepted the post, the worker died.
    assert await ledger.begin_attempt("acme", post_id, "clocked", "@acme") is not None
    await network.publish(AccountRef("clocked", "@acme"), OutgoingPost(request.text, request.idempotency_key))

    sweeper = Sweeper(engine, stale_after_seconds=900)
    assert (await sweeper.sweep_once()).requeued_publishing == 0  # not stale yet
    later = datetime.now(UTC) + timedelta(seconds=901)
    assert (await sweeper.sweep_once(later)).requeued_publishing == 1
    (target,) = await targets_of(engine, post_id)
    assert (target.status, target.attempts) == (T.TARGET_STATUS_PENDING, 1)
    assert (await post_of(engine, post_id)).status == P.POST_STATUS_PUBLISHING

    retry = await dispatch_one(engine, later + timedelta(seconds=1))
    assert await worker_for(engine, network).process("acme", retry) == "published"
    (target,) = await targets_of(engine, post_id)
    assert (target.status, target.attempts) == (T.TARGET_STATUS_PUBLISHED, 2)
    assert target.external_id == network.posts[request.idempotency_key].external_id
    assert network.accepted[request.idempotency_key] == 1


async def test_lost_queued_request_is_requeued_and_old_rows_are_pruned(engine: AsyncEngine) -> None:
    post_id = await insert_post(engine)
    await dispatch_one(engine)
    sweeper = Sweeper(engine, stale_after_seconds=60, retention_seconds=3600)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert (await sweeper.sweep_once(later)).requeued_queued == 0  # its request is still in the outbox
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await session.execute(update(OutboxRow).values(sent_at=datetime.now(UTC)))
        session.add(ProcessedEventRow(event_id="old", processed_at=datetime.now(UTC) - timedelta(minutes=30)))
        session.add(ProcessedEventRow(event_id="new", processed_at=datetime.now(UTC) + timedelta(minutes=5)))
    assert (await sweeper.sweep_once(later)).requeued_queued == 1
    (target,) = await targets_of(engine, post_id)
    assert target.status == T.TARGET_STATUS_PENDING
    assert len(await Dispatcher(engine).dispatch_due(later)) == 1

    report = await sweeper.sweep_once(datetime.now(UTC) + timedelta(hours=1, minutes=1))
    assert report.pruned_outbox == 1  # the first request; the second is not sent yet
    assert report.pruned_processed == 1
    async with sessions() as session:
        assert list((await session.execute(select(ProcessedEventRow.event_id))).scalars()) == ["new"]
        assert len(list((await session.execute(select(OutboxRow))).scalars())) == 1


# -- deleting published posts ------------------------------------------------------------------


async def test_delete_a_published_post(engine: AsyncEngine, accounts: AccountStore) -> None:
    await accounts.connect("acme", "clocked", "@acme", "", {"token": "t"}, "alice")
    network = ClockedNetwork()
    limiter = RateLimiter(engine)
    post_id = await insert_post(engine)
    request = await dispatch_one(engine)
    assert await worker_for(engine, network, accounts=accounts).process("acme", request) == "published"
    external_id = network.posts[request.idempotency_key].external_id
    deleter = PublishedPostDeleter(
        engine, plugins_of(network), accounts, limiter, BackoffPolicy(3, 0.01, 0.02)
    )

    with pytest.raises(NotFoundError):
        await deleter.delete("globex", post_id, [("clocked", "@acme")], "bob")
    await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")
    assert network.deleted == [external_id]
    (target,) = await targets_of(engine, post_id)
    assert target.deleted_at is not None
    assert target.status == T.TARGET_STATUS_PUBLISHED
    deleted = [a for a in await audit_of(engine, post_id) if a.action == "deleted"]
    assert [(a.actor, a.detail) for a in deleted] == [("bob", "deleted from clocked:@acme")]

    await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")  # idempotent
    assert network.deleted == [external_id]
    assert len([a for a in await audit_of(engine, post_id) if a.action == "deleted"]) == 1


async def test_delete_errors_map_to_failed_precondition_or_unavailable(
    engine: AsyncEngine, accounts: AccountStore
) -> None:
    await accounts.connect("acme", "clocked", "@acme", "", {"token": "t"}, "alice")
    network = ClockedNetwork()
    deleter = PublishedPostDeleter(
        engine, plugins_of(network), accounts, RateLimiter(engine), BackoffPolicy(3, 0.01, 0.02)
    )
    post_id = await insert_post(engine)
    request = await dispatch_one(engine)
    with pytest.raises(FailedPreconditionError, match="not published"):
        await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")
    await worker_for(engine, network).process("acme", request)

    network.faults = [PermanentNetworkError("clocked", "post is locked")]
    with pytest.raises(FailedPreconditionError, match="post is locked") as refused:
        await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")
    assert status_for(refused.value).code == code_pb2.FAILED_PRECONDITION

    network.faults = [TransientNetworkError("clocked", "503") for _ in range(3)]
    with pytest.raises(TransientNetworkError) as unavailable:
        await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")
    assert status_for(unavailable.value).code == code_pb2.UNAVAILABLE
    assert [c[3] for c in network.calls if c[0] == "delete"][-3:] == ["TransientNetworkError:0"] * 3
    assert (await targets_of(engine, post_id))[0].deleted_at is None

    network.faults = [TransientNetworkError("clocked", "503")]  # one transient error: retried inline
    await deleter.delete("acme", post_id, [("clocked", "@acme")], "bob")
    assert (await targets_of(engine, post_id))[0].deleted_at is not None
