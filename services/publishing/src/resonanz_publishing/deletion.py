"""Deleting published posts from their networks.

:meth:`PublishedPostDeleter.delete` calls ``network.delete`` for each given target of a post with the
account's credentials, within the manifest's ``delete`` rate limits, retrying transient errors a few
times inline. A deleted target keeps its status PUBLISHED and gets ``deleted_at`` plus a ``deleted``
audit event; deleting it again is a no-op.

Errors (the gRPC interceptor maps them): a target that is not there -> NotFoundError; not PUBLISHED,
the network refusing (permanent error), credentials refused -> FailedPreconditionError with the
network's reason; still failing transiently after the retries, or our own rate limit full for longer
than an inline wait -> the TransientNetworkError / RateLimitedError itself (UNAVAILABLE, with the
retry delay when known).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    FailedPreconditionError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.network import AccountRef, Network
from resonanz_sdk.plugins import PluginManager
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing import audit
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.convert import now_utc
from resonanz_publishing.models import TargetRow
from resonanz_publishing.ratelimit import RateLimiter
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.worker import reconnect_reason

log = logging.getLogger(__name__)

#: Network calls per target before a transient error is given back to the caller.
DELETE_ATTEMPTS = 3
#: Longest wait (backoff or our rate limit) slept inline during a delete call.
DELETE_INLINE_WAIT_SECONDS = 2.0


class PublishedPostDeleter:
    def __init__(
        self,
        engine: AsyncEngine,
        plugins: PluginManager,
        accounts: AccountStore,
        limiter: RateLimiter,
        policy: BackoffPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sessions = session_factory(engine)
        self._plugins = plugins
        self._accounts = accounts
        self._limiter = limiter
        self._policy = policy
        self._sleep = sleep

    async def delete(self, tenant: str, post_id: str, targets: Sequence[tuple[str, str]], actor: str) -> None:
        """Delete the post from each ``(network, account)`` target, one after the other.

        Stops at the first target that fails; the ones deleted before stay deleted (a retry of the
        call skips them).
        """
        for network_name, account in targets:
            row = await self._target(tenant, post_id, network_name, account)
            if row.deleted_at is not None:
                continue
            if row.status != TargetStatus.TARGET_STATUS_PUBLISHED or not row.external_id:
                raise FailedPreconditionError(
                    f"post {post_id!r} is not published on {network_name} account {account}"
                )
            try:
                network = self._plugins.network(network_name)
            except NotFoundError:
                raise FailedPreconditionError(f"no network plugin {network_name!r} is loaded") from None
            await self._delete_on_network(tenant, network, account, row.external_id)
            await self._mark_deleted(row.id, tenant, post_id, actor, f"{network_name}:{account}")

    async def _target(self, tenant: str, post_id: str, network: str, account: str) -> TargetRow:
        async with self._sessions() as session:
            row: TargetRow | None = (
                await session.execute(
                    select(TargetRow).where(
                        TargetRow.tenant == tenant,
                        TargetRow.post_id == post_id,
                        TargetRow.network == network,
                        TargetRow.account == account,
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"post {post_id!r} has no target {network}:{account}")
        return row

    async def _delete_on_network(self, tenant: str, network: Network, handle: str, external_id: str) -> None:
        account = AccountRef(
            network.name, handle, await self._accounts.credentials_for(tenant, network.name, handle)
        )
        refreshed = False
        attempt = 1
        while True:
            await self._take_rate_slot(network, handle)
            try:
                await network.delete(account, external_id)
                return
            except AuthenticationFailedError as exc:
                if refreshed:
                    await self._accounts.mark_needs_reauth(tenant, network.name, handle, exc.reason)
                    raise FailedPreconditionError(reconnect_reason(network.name, handle, exc.reason)) from exc
                refreshed = True
                try:
                    credentials = await network.refresh_credentials(account)
                except NetworkError as refresh_exc:
                    await self._accounts.mark_needs_reauth(tenant, network.name, handle, refresh_exc.reason)
                    raise FailedPreconditionError(
                        reconnect_reason(network.name, handle, refresh_exc.reason)
                    ) from refresh_exc
                await self._accounts.store_refreshed(tenant, network.name, handle, credentials)
                account = AccountRef(network.name, handle, credentials)
                continue
            except TransientNetworkError as exc:
                delay = self._policy.retry_delay(attempt, exc.retry_after)
                if attempt >= DELETE_ATTEMPTS or delay > DELETE_INLINE_WAIT_SECONDS:
                    raise
                await self._sleep(delay)
            except NetworkError as exc:
                raise FailedPreconditionError(f"{network.name}: {exc.reason}") from exc
            attempt += 1

    async def _take_rate_slot(self, network: Network, handle: str) -> None:
        while True:
            decision = await self._limiter.acquire(network.manifest, "delete", handle)
            if decision.allowed:
                return
            if decision.wait > DELETE_INLINE_WAIT_SECONDS:
                raise RateLimitedError(
                    network.name,
                    "the delete rate limit is reached; try again later",
                    retry_after=decision.wait,
                )
            await self._sleep(decision.wait)

    async def _mark_deleted(self, target_id: int, tenant: str, post_id: str, actor: str, what: str) -> None:
        now = now_utc()
        async with self._sessions.begin() as session:
            changed = (
                await session.execute(
                    update(TargetRow)
                    .where(TargetRow.id == target_id, TargetRow.deleted_at.is_(None))
                    .values(deleted_at=now, updated_at=now)
                    .returning(TargetRow.id)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
            if changed is not None:
                audit.record(
                    session,
                    tenant=tenant,
                    action="deleted",
                    actor=actor,
                    post_id=post_id,
                    detail=f"deleted from {what}",
                )
        log.info("post %s deleted from %s", post_id, what)
