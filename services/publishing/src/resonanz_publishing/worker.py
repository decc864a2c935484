"""The publish worker: handles ``publish.requests`` by calling the target's network plugin.

For each request it skips targets that are already final (or waiting for a deferred retry), marks the
target PUBLISHING (one more attempt), reads the account's credentials, resolves ``media://`` URIs,
takes a slot of the manifest's rate limits, asks ``find_published`` first when an earlier attempt may
have gone through, publishes (or replies) with the stable idempotency key, and then:

* transient errors and 429s: capped exponential backoff with jitter, never before the network's
  Retry-After. A wait up to ``inline_retry_max_seconds`` is slept here; a longer one hands the target
  back to the dispatcher (PENDING, due at now + wait, attempts kept) and acknowledges the request;
* authentication failures: ``refresh_credentials`` once, store the new credentials; when refreshing
  fails (or the fresh ones are refused too) the account is marked NEEDS_REAUTH and the target fails;
* permanent errors fail the target at once with the network's reason;

and records the outcome (target, post status and a ``publish.results`` event, in one transaction).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from resonanz.common.v1.content_pb2 import MediaItem, TargetStatus
from resonanz.events.v1.events_pb2 import PublishRequested
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    FailedPreconditionError,
    NetworkError,
    NotFoundError,
    TransientNetworkError,
)
from resonanz_sdk.eventbus import ReceivedEvent, payload_of
from resonanz_sdk.metrics import PUBLISH_OUTCOMES
from resonanz_sdk.network import AccountRef, Credentials, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager

from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.convert import media_to_sdk, now_utc
from resonanz_publishing.media_catalog import MediaCatalog
from resonanz_publishing.notifier import ChangeNotifier
from resonanz_publishing.ratelimit import RateLimiter
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.targets import AttemptStart, TargetLedger

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def reconnect_reason(network: str, handle: str, detail: str) -> str:
    """The target's error when the account's credentials are refused for good."""
    return f"the {network} account {handle} needs to be reconnected (credentials refused: {detail})"


@dataclass
class _Outcome:
    """How one request ended: published, failed for good, or deferred to the dispatcher."""

    published: PublishedPost | None = None
    reason: str = ""
    #: Seconds until the deferred retry; ``None`` when the outcome is final.
    defer_for: float | None = None
    #: The deferral happened before a network call of this attempt (our own rate limit).
    uncount: bool = False


class PublishWorker:
    """The handler of the worker's EventConsumer (``handle_batch``).

    :param accounts: where credentials come from; ``None``: empty credentials (tests, old wiring).
    :param media: resolves ``media://<id>`` URIs for the plugin; ``None``: URIs go as they are.
    :param limiter: the manifests' rate limits; ``None``: not enforced here.
    :param inline_retry_max_seconds: longer retry waits are deferred to the dispatcher.
    """

    def __init__(
        self,
        ledger: TargetLedger,
        plugins: PluginManager,
        policy: BackoffPolicy,
        *,
        notifier: ChangeNotifier | None = None,
        on_staged: Callable[[], None] | None = None,
        sleep: Sleep = asyncio.sleep,
        accounts: AccountStore | None = None,
        media: MediaCatalog | None = None,
        limiter: RateLimiter | None = None,
        inline_retry_max_seconds: float = math.inf,
    ) -> None:
        self._ledger = ledger
        self._plugins = plugins
        self._policy = policy
        self._notifier = notifier or ChangeNotifier()
        self._on_staged = on_staged
        self._sleep = sleep
        self._accounts = accounts
        self._media = media
        self._limiter = limiter
        self._inline_max = inline_retry_max_seconds

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
        """Handle one request; the outcome (also counted in PUBLISH_OUTCOMES): ``published``,
        ``failed``, ``deferred``, ``duplicate``, ``not_due`` or ``unknown_target``."""
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
        if start.not_due:
            log.info("target %s waits for a deferred retry; early request skipped", request.idempotency_key)
            return "not_due"
        self._notifier.notify(start.post_id)
        try:
            network = self._plugins.network(request.network)
        except NotFoundError:
            result = _Outcome(reason=f"no network plugin {request.network!r} is loaded")
        else:
            result = await self._run(tenant, network, request, start)
        if result.defer_for is not None:
            due = now_utc() + timedelta(seconds=result.defer_for)
            done = await self._ledger.defer(
                start.target_id, due_at=due, error=result.reason, uncount=result.uncount
            )
            outcome = "deferred"
            log.info(
                "target %s deferred for %.1fs: %s", request.idempotency_key, result.defer_for, result.reason
            )
        elif result.published is None:
            done = await self._ledger.finish(
                start.target_id, status=TargetStatus.TARGET_STATUS_FAILED, error=result.reason
            )
            outcome = "failed"
        else:
            done = await self._ledger.finish(
                start.target_id,
                status=TargetStatus.TARGET_STATUS_PUBLISHED,
                external_id=result.published.external_id,
                url=result.published.url,
                published_at=result.published.published_at,
            )
            outcome = "published"
        self._notifier.notify(start.post_id)
        if self._on_staged is not None and outcome != "deferred":
            self._on_staged()
        return outcome if done else "duplicate"

    async def _run(
        self, tenant: str, network: Network, request: PublishRequested, start: AttemptStart
    ) -> _Outcome:
        """Prepare the call (credentials, media), then publish with retries."""
        try:
            credentials = await self._credentials(tenant, request.network, request.account)
            media = await self._resolve_media(tenant, request.media)
        except (NotFoundError, FailedPreconditionError) as exc:
            return _Outcome(reason=str(exc))
        outgoing = OutgoingPost(
            text=request.text,
            idempotency_key=request.idempotency_key,
            media=media_to_sdk(media),
            in_reply_to=request.in_reply_to or None,
        )
        account = AccountRef(network=request.network, handle=request.account, credentials=credentials)
        return await self._attempt_until_done(tenant, network, account, outgoing, start)

    async def _credentials(self, tenant: str, network: str, handle: str) -> Credentials:
        if self._accounts is None:
            return Credentials()
        return await self._accounts.credentials_for(tenant, network, handle)

    async def _resolve_media(self, tenant: str, items: Sequence[MediaItem]) -> list[MediaItem]:
        if self._media is None:
            return list(items)
        out = []
        for item in items:
            resolved = MediaItem()
            resolved.CopyFrom(item)
            resolved.uri = await self._media.network_uri(tenant, item)
            out.append(resolved)
        return out

    async def _attempt_until_done(  # noqa: PLR0911 - one return per way a publish can end
        self,
        tenant: str,
        network: Network,
        account: AccountRef,
        outgoing: OutgoingPost,
        start: AttemptStart,
    ) -> _Outcome:
        """Publish with retries: published, failed for good, or deferred."""
        operation = "reply" if outgoing.in_reply_to else "publish"
        attempt = start.attempts
        refreshed = False
        while True:
            wait = await self._take_rate_slot(network, operation, account.handle)
            if wait is not None:
                reason = f"waiting for the {network.name} rate limit ({operation})"
                return _Outcome(reason=reason, defer_for=wait, uncount=True)
            verdict: _Outcome | None
            try:
                published = await self._publish(network, account, outgoing, maybe_done=attempt > 1)
                return _Outcome(published=published)
            except AuthenticationFailedError as exc:
                if refreshed:
                    return await self._needs_reauth(tenant, account, exc.reason)
                refreshed = True
                renewed = await self._refresh(tenant, network, account)
                if isinstance(renewed, _Outcome):
                    return renewed
                account = renewed
            except TransientNetworkError as exc:  # RateLimitedError included
                verdict = await self._backoff(network, attempt, "gave up", exc.reason, exc.retry_after)
                if verdict is not None:
                    return verdict
            except NetworkError as exc:  # PermanentNetworkError and anything not worth retrying
                return _Outcome(reason=exc.reason)
            except Exception as exc:
                # A bug in the plugin: it may or may not have posted, so retry (after find_published).
                log.exception("network plugin %s raised unexpectedly", network.name)
                verdict = await self._backoff(network, attempt, "plugin error", type(exc).__name__, None)
                if verdict is not None:
                    return verdict
            attempt = await self._ledger.bump_attempt(start.target_id)

    async def _backoff(
        self, network: Network, attempt: int, label: str, detail: str, retry_after: float | None
    ) -> _Outcome | None:
        """After a failed call: give up, defer, or sleep inline (``None``: call again now)."""
        if self._policy.gives_up_after(attempt):
            return _Outcome(reason=f"{label} after {attempt} attempts: {detail}")
        PUBLISH_OUTCOMES.labels(network=network.name, outcome="retried").inc()
        delay = self._policy.retry_delay(attempt, retry_after)
        if delay > self._inline_max:
            return _Outcome(reason=detail, defer_for=delay)
        await self._sleep(delay)
        return None

    async def _refresh(self, tenant: str, network: Network, account: AccountRef) -> AccountRef | _Outcome:
        """New credentials from the plugin, stored for the account; or how the target ends."""
        try:
            credentials = await network.refresh_credentials(account)
        except NetworkError as exc:
            return await self._needs_reauth(tenant, account, exc.reason)
        if self._accounts is not None:
            try:
                await self._accounts.store_refreshed(tenant, account.network, account.handle, credentials)
            except (NotFoundError, FailedPreconditionError) as exc:
                return _Outcome(reason=str(exc))
        return AccountRef(network=account.network, handle=account.handle, credentials=credentials)

    async def _take_rate_slot(self, network: Network, operation: str, handle: str) -> float | None:
        """Wait inline for a slot of the manifest's limits; the wait to defer for when it is too long."""
        if self._limiter is None:
            return None
        while True:
            decision = await self._limiter.acquire(network.manifest, operation, handle)
            if decision.allowed:
                return None
            if decision.wait > self._inline_max:
                return decision.wait
            await self._sleep(decision.wait)

    async def _needs_reauth(self, tenant: str, account: AccountRef, detail: str) -> _Outcome:
        reason = reconnect_reason(account.network, account.handle, detail)
        if self._accounts is not None:
            try:
                await self._accounts.mark_needs_reauth(tenant, account.network, account.handle, detail)
            except NotFoundError:
                log.warning(
                    "account %s/%s vanished before it could be marked", account.network, account.handle
                )
        return _Outcome(reason=reason)

    async def _publish(
        self, network: Network, account: AccountRef, post: OutgoingPost, *, maybe_done: bool
    ) -> PublishedPost:
        if maybe_done:
            found = await network.find_published(account, post.idempotency_key)
            if found is not None:
                log.info("publish %s had gone through earlier; not publishing again", post.idempotency_key)
                return found
        if post.in_reply_to:
            return await network.reply(account, post)
        return await network.publish(account, post)
