"""The publish worker: handles ``publish.requests`` by calling the target's network plugin.

For each request it skips targets that are already final, marks the target PUBLISHING (one more
attempt), asks ``find_published`` first when an earlier attempt may have gone through, publishes with
the stable idempotency key, retries transient failures and rate limits with capped exponential backoff
(honouring ``retry_after``), refreshes credentials once after an authentication failure, and records
the outcome (target, post status and a ``publish.results`` event, in one transaction).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz.events.v1.events_pb2 import PublishRequested
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
    NotFoundError,
    TransientNetworkError,
)
from resonanz_sdk.eventbus import ReceivedEvent, payload_of
from resonanz_sdk.metrics import PUBLISH_OUTCOMES
from resonanz_sdk.network import AccountRef, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager

from resonanz_publishing.convert import media_to_sdk
from resonanz_publishing.notifier import ChangeNotifier
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.targets import AttemptStart, TargetLedger

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class PublishWorker:
    """The handler of the worker's EventConsumer (``handle_batch``)."""

    def __init__(
        self,
        ledger: TargetLedger,
        plugins: PluginManager,
        policy: BackoffPolicy,
        *,
        notifier: ChangeNotifier | None = None,
        on_staged: Callable[[], None] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._ledger = ledger
        self._plugins = plugins
        self._policy = policy
        self._notifier = notifier or ChangeNotifier()
        self._on_staged = on_staged
        self._sleep = sleep

    async def handle_batch(self, batch: Sequence[ReceivedEvent]) -> None:
        """Process a batch: different targets concurrently, requests for one target in order.

        Raises the first unexpected error after every request of the batch has been tried (the consumer
        then retries one by one, which is safe: processing is idempotent).
        """
        groups: dict[str, list[tuple[str, PublishRequested]]] = {}
        for event in batch:
            payload = payload_of(event.envelope)
            if not isinstance(payload, PublishRequested):
                log.warning("ignoring %s on %s", event.envelope.type, event.topic)
                continue
            groups.setdefault(payload.idempotency_key, []).append((event.envelope.tenant, payload))
        results = await asyncio.gather(*(self._run_group(g) for g in groups.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _run_group(self, requests: list[tuple[str, PublishRequested]]) -> None:
        for tenant, request in requests:
            await self.process(tenant, request)

    async def process(self, tenant: str, request: PublishRequested) -> str:
        """Publish one request; returns the outcome (also counted in PUBLISH_OUTCOMES)."""
        outcome = await self._process(tenant, request)
        PUBLISH_OUTCOMES.labels(network=request.network, outcome=outcome).inc()
        return outcome

    async def _process(self, tenant: str, request: PublishRequested) -> str:
        start = await self._ledger.begin_attempt(tenant, request.post_id, request.network, request.account)
        if start is None:
            log.warning(
                "publish request for unknown target %s (tenant %s); dropped", request.idempotency_key, tenant
            )
            return "unknown_target"
        if start.already_final:
            log.info("target %s is already final; duplicate request skipped", request.idempotency_key)
            return "duplicate"
        self._notifier.notify(start.post_id)
        try:
            network = self._plugins.network(request.network)
        except NotFoundError:
            published, reason = None, f"no network plugin {request.network!r} is loaded"
        else:
            published, reason = await self._attempt_until_final(network, request, start)
        if published is None:
            done = await self._ledger.finish(
                start.target_id, status=TargetStatus.TARGET_STATUS_FAILED, error=reason
            )
            outcome = "failed"
        else:
            done = await self._ledger.finish(
                start.target_id,
                status=TargetStatus.TARGET_STATUS_PUBLISHED,
                external_id=published.external_id,
                url=published.url,
                published_at=published.published_at,
            )
            outcome = "published"
        self._notifier.notify(start.post_id)
        if self._on_staged is not None:
            self._on_staged()
        return outcome if done else "duplicate"

    async def _attempt_until_final(
        self, network: Network, request: PublishRequested, start: AttemptStart
    ) -> tuple[PublishedPost | None, str]:
        """Publish with retries; the published post, or ``None`` and the reason it failed for good."""
        account = AccountRef(network=request.network, handle=request.account)
        outgoing = OutgoingPost(
            text=request.text, idempotency_key=request.idempotency_key, media=media_to_sdk(request.media)
        )
        attempt = start.attempts
        refreshed = False
        while True:
            try:
                return await self._publish(network, account, outgoing, maybe_done=attempt > 1), ""
            except AuthenticationFailedError as exc:
                if refreshed:
                    return None, exc.reason
                refreshed = True
                try:
                    credentials = await network.refresh_credentials(account)
                except NetworkError as refresh_exc:
                    return None, refresh_exc.reason
                account = AccountRef(network=account.network, handle=account.handle, credentials=credentials)
            except TransientNetworkError as exc:  # RateLimitedError included
                if self._policy.gives_up_after(attempt):
                    return None, f"gave up after {attempt} attempts: {exc.reason}"
                PUBLISH_OUTCOMES.labels(network=request.network, outcome="retried").inc()
                await self._sleep(self._policy.delay(attempt, exc.retry_after))
            except NetworkError as exc:  # PermanentNetworkError and anything not worth retrying
                return None, exc.reason
            except Exception as exc:
                # A bug in the plugin: it may or may not have posted, so retry (after find_published).
                log.exception("network plugin %s raised unexpectedly", request.network)
                if self._policy.gives_up_after(attempt):
                    return None, f"plugin error after {attempt} attempts: {type(exc).__name__}"
                await self._sleep(self._policy.delay(attempt))
            attempt = await self._ledger.bump_attempt(start.target_id)

    async def _publish(
        self, network: Network, account: AccountRef, post: OutgoingPost, *, maybe_done: bool
    ) -> PublishedPost:
        if maybe_done:
            found = await network.find_published(account, post.idempotency_key)
            if found is not None:
                log.info("publish %s had gone through earlier; not publishing again", post.idempotency_key)
                return found
        return await network.publish(account, post)
