"""The listening double's UpdateQuery, GetQueryStatus and Backfill RPCs, for the CLI tests.

A dataclass mixin of :class:`cli_doubles.ListeningDouble` (which holds the queries and answers the
query CRUD and mention RPCs). It speaks the real protos over the real gRPC server of the CLI tests and
answers like the listening service would for what the CLI relies on: ``update_mask`` names checked,
NOT_FOUND across tenants, backfills that run in the "service" (a task advancing their progress)
whatever the client does, streams of progress until a final state, idempotency on ``request_id``,
cancel. Tests steer it: ``backfill_steps`` (updates per backfill), ``failing_networks`` (a network
whose backfill fails), ``collection`` (the GetQueryStatus answer per query id).
The real service is covered by tests/services/listening; the lead's end-to-end test runs the CLI
against it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc.aio
import resonanz.listening.v1.listening_service_pb2 as listening_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from resonanz.common.v1 import mention_pb2
from resonanz_sdk.errors import FailedPreconditionError, FieldViolation, NotFoundError, ValidationError
from resonanz_sdk.grpc import tenant_of

Context = grpc.aio.ServicerContext[Any, Any]
UPDATABLE = ("name", "expression", "languages", "networks", "label", "role", "enabled")
DOUBLE_NETWORKS = ("simulated",)
FINAL = frozenset(
    {
        listening_pb2.BACKFILL_STATE_SUCCEEDED,
        listening_pb2.BACKFILL_STATE_FAILED,
        listening_pb2.BACKFILL_STATE_CANCELLED,
    }
)


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


@dataclass
class _Job:
    tenant: str
    progress: listening_pb2.BackfillProgress
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()


@dataclass
class ListeningCollectionDouble:
    """UpdateQuery, GetQueryStatus and the Backfill RPCs (mixed into ``ListeningDouble``)."""

    update_requests: list[listening_pb2.UpdateQueryRequest] = field(default_factory=list)
    backfill_requests: list[listening_pb2.BackfillRequest] = field(default_factory=list)
    collection: dict[str, list[listening_pb2.CollectionState]] = field(default_factory=dict)
    jobs: dict[str, _Job] = field(default_factory=dict)
    #: Backfill ids by the request_id that started them (idempotency).
    by_request: dict[tuple[str, str], str] = field(default_factory=dict)
    backfill_steps: int = 4
    #: Seconds between two progress steps of a running backfill.
    step_seconds: float = 0.02
    failing_networks: set[str] = field(default_factory=set)
    watchers_cancelled: int = 0

    # provided by ListeningDouble
    queries: dict[str, mention_pb2.ListeningQuery] = field(default_factory=dict)

    def _query(self, tenant: str, query_id: str) -> mention_pb2.ListeningQuery:
        query = self.queries.get(query_id)
        if query is None or query.tenant != tenant:
            raise NotFoundError(f"query {query_id!r} not found")
        return query

    async def UpdateQuery(  # noqa: N802
        self, request: listening_pb2.UpdateQueryRequest, context: Context
    ) -> listening_pb2.UpdateQueryResponse:
        tenant = tenant_of(context)
        self.update_requests.append(request)
        unknown = [name for name in request.update_mask if name not in UPDATABLE]
        violations = []
        if unknown:
            violations.append(FieldViolation("update_mask", f"unknown field(s) {', '.join(unknown)}"))
        if "expression" in request.update_mask and not request.expression.strip():
            violations.append(FieldViolation("expression", "must not be empty"))
        if violations:
            raise ValidationError(violations)
        query = self._query(tenant, request.query_id)
        for name in request.update_mask:
            if name in ("languages", "networks"):
                target = getattr(query, name)
                del target[:]
                target.extend(getattr(request, name))
            else:
                setattr(query, name, getattr(request, name))
        return listening_pb2.UpdateQueryResponse(query=query)

    async def GetQueryStatus(  # noqa: N802
        self, request: listening_pb2.GetQueryStatusRequest, context: Context
    ) -> listening_pb2.GetQueryStatusResponse:
        query = self._query(tenant_of(context), request.query_id)
        return listening_pb2.GetQueryStatusResponse(networks=self.collection.get(query.id, []))

    # -- backfills ----------------------------------------------------------------------------

    def _job(self, tenant: str, backfill_id: str) -> _Job:
        job = self.jobs.get(backfill_id)
        if job is None or job.tenant != tenant:
            raise NotFoundError(f"backfill {backfill_id!r} not found")
        return job

    async def _run(self, job: _Job) -> None:
        p = job.progress
        p.state = listening_pb2.BACKFILL_STATE_RUNNING
        job.publish()
        for step in range(1, self.backfill_steps + 1):
            await asyncio.sleep(self.step_seconds)
            fraction = step / self.backfill_steps
            for n in p.networks:
                if n.network in self.failing_networks and fraction >= 0.5:
                    n.state = listening_pb2.BACKFILL_STATE_FAILED
                    n.error = "simulated: permanent error (HTTP 403)"
                    continue
                n.fraction_done = fraction
                n.fetched = 10 * step
                n.collected = 4 * step
                n.state = listening_pb2.BACKFILL_STATE_RUNNING
            p.fraction_done = sum(n.fraction_done for n in p.networks) / len(p.networks)
            p.fetched = sum(n.fetched for n in p.networks)
            p.collected = sum(n.collected for n in p.networks)
            job.publish()
        failed = [n for n in p.networks if n.state == listening_pb2.BACKFILL_STATE_FAILED]
        for n in p.networks:
            if n.state != listening_pb2.BACKFILL_STATE_FAILED:
                n.state = listening_pb2.BACKFILL_STATE_SUCCEEDED
        p.state = listening_pb2.BACKFILL_STATE_FAILED if failed else listening_pb2.BACKFILL_STATE_SUCCEEDED
        if failed:
            p.error = f"{failed[0].network}: {failed[0].error}"
        p.finished_at.CopyFrom(_now())
        job.publish()

    async def _follow(self, job: _Job, context: Context) -> AsyncIterator[listening_pb2.BackfillProgress]:
        try:
            while True:
                changed = job.changed
                snapshot = listening_pb2.BackfillProgress()
                snapshot.CopyFrom(job.progress)
                yield snapshot
                if snapshot.state in FINAL:
                    return
                await changed.wait()
        except asyncio.CancelledError:
            self.watchers_cancelled += 1
            raise

    async def Backfill(  # noqa: N802
        self, request: listening_pb2.BackfillRequest, context: Context
    ) -> AsyncIterator[listening_pb2.BackfillResponse]:
        tenant = tenant_of(context)
        self.backfill_requests.append(request)
        violations = []
        if not request.HasField("since"):
            violations.append(FieldViolation("since", "must be set"))
        elif request.HasField("until") and request.until.ToDatetime() <= request.since.ToDatetime():
            violations.append(FieldViolation("until", "must be after since"))
        for i, name in enumerate(request.networks):
            if name not in DOUBLE_NETWORKS:
                violations.append(FieldViolation(f"networks[{i}]", f"no network plugin {name!r} is loaded"))
        if violations:
            raise ValidationError(violations)
        query = self._query(tenant, request.query_id)
        started = self.by_request.get((tenant, request.request_id)) if request.request_id else None
        if started is not None:
            job = self.jobs[started]
        else:
            if not query.enabled:
                raise FailedPreconditionError(f"query {query.id!r} is disabled")
            networks = list(request.networks) or list(query.networks) or list(DOUBLE_NETWORKS)
            progress = listening_pb2.BackfillProgress(
                backfill_id=uuid.uuid4().hex[:8],
                query_id=query.id,
                state=listening_pb2.BACKFILL_STATE_PENDING,
                since=request.since,
                until=request.until if request.HasField("until") else _now(),
                networks=[
                    listening_pb2.BackfillNetworkProgress(
                        network=n, state=listening_pb2.BACKFILL_STATE_PENDING
                    )
                    for n in networks
                ],
                created_at=_now(),
            )
            job = _Job(tenant, progress)
            self.jobs[progress.backfill_id] = job
            if request.request_id:
                self.by_request[(tenant, request.request_id)] = progress.backfill_id
            job.task = asyncio.create_task(self._run(job))
        async for snapshot in self._follow(job, context):
            yield listening_pb2.BackfillResponse(backfill=snapshot)

    async def GetBackfill(  # noqa: N802
        self, request: listening_pb2.GetBackfillRequest, context: Context
    ) -> listening_pb2.GetBackfillResponse:
        job = self._job(tenant_of(context), request.backfill_id)
        return listening_pb2.GetBackfillResponse(backfill=job.progress)

    async def ListBackfills(  # noqa: N802
        self, request: listening_pb2.ListBackfillsRequest, context: Context
    ) -> listening_pb2.ListBackfillsResponse:
        tenant = tenant_of(context)
        if request.query_id:
            self._query(tenant, request.query_id)
        mine = [
            j.progress
            for j in reversed(self.jobs.values())
            if j.tenant == tenant and (not request.query_id or j.progress.query_id == request.query_id)
        ]
        start = int(request.page_token or "0")
        size = request.page_size or 50
        page = mine[start : start + size]
        token = str(start + size) if start + size < len(mine) else ""
        return listening_pb2.ListBackfillsResponse(backfills=page, next_page_token=token)

    async def WatchBackfill(  # noqa: N802
        self, request: listening_pb2.WatchBackfillRequest, context: Context
    ) -> AsyncIterator[listening_pb2.WatchBackfillResponse]:
        job = self._job(tenant_of(context), request.backfill_id)
        async for snapshot in self._follow(job, context):
            yield listening_pb2.WatchBackfillResponse(backfill=snapshot)

    async def CancelBackfill(  # noqa: N802
        self, request: listening_pb2.CancelBackfillRequest, context: Context
    ) -> listening_pb2.CancelBackfillResponse:
        job = self._job(tenant_of(context), request.backfill_id)
        if job.progress.state not in FINAL:
            if job.task is not None:
                job.task.cancel()
            job.progress.state = listening_pb2.BACKFILL_STATE_CANCELLED
            job.progress.finished_at.CopyFrom(_now())
            job.publish()
        return listening_pb2.CancelBackfillResponse(backfill=job.progress)

    async def aclose(self) -> None:
        """Stop the backfills still running (at the end of a test)."""
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
