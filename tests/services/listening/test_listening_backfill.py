"""Historical backfill over gRPC and across replicas: progress to 1.0, every mention stored and sent
once (also when a backfill overlaps another or live collection), idempotent ``request_id``, cancel,
validation, tenant walls, and a job that resumes on another replica from its stored progress.

Real broker, SQLite and PostgreSQL; the simulated network (manual clock) generates the history.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from listening_collection_helpers import Replica, add_queries, read_mentions
from listening_helpers import RawTopicReader, eventually, plugin_manager
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceStub
from resonanz_listening.app import ListeningApp
from resonanz_listening.backfill import Backfills
from resonanz_listening.pairs import local_match, parse_cached
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.grpc import field_violations, tenant_metadata
from resonanz_sdk.network import RawMention, SearchPage, SearchRequest
from resonanz_sdk.settings import Settings
from resonanz_simulated.clock import ManualClock
from resonanz_simulated.network import SimulatedNetwork
from resonanz_simulated.world import SimulatedWorld

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")
EXPRESSION = "Resonanz OR acme"
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


async def _history(network: SimulatedNetwork, since: datetime, until: datetime) -> set[str]:
    """Ids of the matching history in [since, until), paged through like any client would."""
    node = parse_cached(EXPRESSION)
    found: list[RawMention] = []
    cursor = None
    while True:
        page = await network.search(
            SearchRequest(terms=("Resonanz", "acme"), since=since, until=until, cursor=cursor, limit=200)
        )
        found.extend(page.mentions)
        if len(page.mentions) < 200:
            break
        cursor = page.next_cursor
    return {f"simulated:{m.external_id}" for m in found if local_match(node, [], m)}


def _events_per_mention(envelopes: list[EventEnvelope]) -> Counter[str]:
    return Counter(
        mention for mention, _ in {(e.mention_collected.mention.id, e.event_id) for e in envelopes}
    )


class GatedNetwork(SimulatedNetwork):
    """The simulated network; its backfill searches (``since`` set) wait for ``gate`` after ``free`` pages."""

    def __init__(self, world: SimulatedWorld, free: int) -> None:
        super().__init__(world, settings=Settings(simulated_faults=""))
        self.gate = asyncio.Event()
        self.free = free
        self.backfill_requests: list[SearchRequest] = []

    async def search(self, request: SearchRequest) -> SearchPage:
        if request.since is not None:
            self.backfill_requests.append(request)
            if len(self.backfill_requests) > self.free:
                await self.gate.wait()
        return await super().search(request)


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(9, ManualClock(START))


@pytest.fixture
async def backfill_app(
    settings: Settings, world: SimulatedWorld
) -> AsyncIterator[tuple[ListeningApp, SimulatedNetwork]]:
    network = GatedNetwork(world, free=10_000)
    settings = settings.model_copy(update={"listening_page_size": 50})
    app = ListeningApp(settings, plugin_manager(network))
    await app.start()
    try:
        yield app, network
    finally:
        await app.stop()


async def _create_query(stub: ListeningServiceAsyncStub) -> str:
    request = pb.CreateQueryRequest(name="Brand", expression=EXPRESSION, label="Resonanz")
    return (await stub.CreateQuery(request, metadata=ACME)).query.id


async def test_backfill_reports_progress_to_one_and_stores_each_mention_once(
    backfill_app: tuple[ListeningApp, SimulatedNetwork], kafka_bootstrap: str, topic_prefix: str
) -> None:
    app, network = backfill_app
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = ListeningServiceStub(channel)
        query_id = await _create_query(stub)
        since, until = START - timedelta(hours=2), START - timedelta(hours=1)
        request = pb.BackfillRequest(query_id=query_id, since=_ts(since), until=_ts(until), request_id="r-1")
        updates = [r.backfill async for r in stub.Backfill(request, metadata=ACME)]
        final = updates[-1]
        assert final.state == pb.BACKFILL_STATE_SUCCEEDED
        assert final.fraction_done == 1.0
        fractions = [u.fraction_done for u in updates]
        assert fractions == sorted(fractions)
        (progress,) = final.networks
        assert progress.network == "simulated"
        assert progress.fraction_done == 1.0
        assert progress.reached.ToDatetime(tzinfo=UTC) == until
        expected = await _history(network, since, until)
        assert len(expected) > 50  # more than one page of 50
        assert final.collected == len(expected)
        assert final.fetched >= final.collected
        assert final.finished_at.seconds > 0

        envelopes = await reader.read_until(len(expected))
        assert _events_per_mention(envelopes) == Counter(dict.fromkeys(expected, 1))

        # the same request id answers the same (finished) backfill and starts nothing
        again = [r.backfill async for r in stub.Backfill(request, metadata=ACME)]
        assert [a.backfill_id for a in again] == [final.backfill_id]

        # an overlapping range stores only what is new; nothing reaches mentions.raw twice
        overlap = pb.BackfillRequest(
            query_id=query_id,
            since=_ts(START - timedelta(minutes=90)),
            until=_ts(START - timedelta(minutes=30)),
        )
        second = [r.backfill async for r in stub.Backfill(overlap, metadata=ACME)][-1]
        newer = await _history(network, START - timedelta(minutes=90), START - timedelta(minutes=30))
        assert second.state == pb.BACKFILL_STATE_SUCCEEDED
        assert second.collected == len(newer - expected)
        envelopes = await reader.read_until(len(expected | newer))
        assert _events_per_mention(envelopes) == Counter(dict.fromkeys(expected | newer, 1))

        got = await stub.GetBackfill(pb.GetBackfillRequest(backfill_id=final.backfill_id), metadata=ACME)
        assert got.backfill == final
        listed = await stub.ListBackfills(pb.ListBackfillsRequest(page_size=1), metadata=ACME)
        assert [b.backfill_id for b in listed.backfills] == [second.backfill_id]  # newest first
        rest = await stub.ListBackfills(
            pb.ListBackfillsRequest(page_size=1, page_token=listed.next_page_token), metadata=ACME
        )
        assert [b.backfill_id for b in rest.backfills] == [final.backfill_id]
        assert rest.next_page_token == ""
        watched = [
            r.backfill
            async for r in stub.WatchBackfill(
                pb.WatchBackfillRequest(backfill_id=final.backfill_id), metadata=ACME
            )
        ]
        assert watched == [final]

        status = await stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=query_id), metadata=ACME)
        (state,) = status.networks
        assert state.network == "simulated"
        assert state.mode in {"poll", "stream"}
    await reader.stop()


async def test_backfill_requests_are_validated_and_walled_per_tenant(
    backfill_app: tuple[ListeningApp, SimulatedNetwork],
) -> None:
    app, _ = backfill_app
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = ListeningServiceStub(channel)
        query_id = await _create_query(stub)
        bad = pb.BackfillRequest(query_id="", networks=["nope"], request_id="x" * 201)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in stub.Backfill(bad, metadata=ACME)]
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = {v.field for v in field_violations(caught.value)}
        assert fields == {"query_id", "since", "networks[0]", "request_id"}

        backwards = pb.BackfillRequest(
            query_id=query_id, since=_ts(START), until=_ts(START - timedelta(hours=1))
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in stub.Backfill(backwards, metadata=ACME)]
        assert [v.field for v in field_violations(caught.value)] == ["since"]

        foreign = pb.BackfillRequest(query_id=query_id, since=_ts(START - timedelta(hours=1)))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in stub.Backfill(foreign, metadata=GLOBEX)]
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

        own = [r.backfill async for r in stub.Backfill(foreign, metadata=ACME)][-1]
        for call in (
            stub.GetBackfill(pb.GetBackfillRequest(backfill_id=own.backfill_id), metadata=GLOBEX),
            stub.CancelBackfill(pb.CancelBackfillRequest(backfill_id=own.backfill_id), metadata=GLOBEX),
            stub.GetQueryStatus(pb.GetQueryStatusRequest(query_id=query_id), metadata=GLOBEX),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListBackfills(pb.ListBackfillsRequest(), metadata=GLOBEX)
        assert list(listed.backfills) == []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListBackfills(pb.ListBackfillsRequest(page_token="garbage"), metadata=ACME)
        assert [v.field for v in field_violations(caught.value)] == ["page_token"]


async def test_cancel_stops_a_running_backfill(settings: Settings, world: SimulatedWorld) -> None:
    network = GatedNetwork(world, free=1)
    app = ListeningApp(settings.model_copy(update={"listening_page_size": 20}), plugin_manager(network))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = ListeningServiceStub(channel)
            query_id = await _create_query(stub)
            request = pb.BackfillRequest(query_id=query_id, since=_ts(START - timedelta(hours=3)))
            call = stub.Backfill(request, metadata=ACME)
            first = (await call.read()).backfill
            watch = stub.WatchBackfill(pb.WatchBackfillRequest(backfill_id=first.backfill_id), metadata=ACME)

            async def blocked() -> bool:
                return len(network.backfill_requests) > 1

            await eventually(blocked)
            cancelled = await stub.CancelBackfill(
                pb.CancelBackfillRequest(backfill_id=first.backfill_id), metadata=ACME
            )
            assert cancelled.backfill.state == pb.BACKFILL_STATE_CANCELLED
            assert [n.state for n in cancelled.backfill.networks] == [pb.BACKFILL_STATE_CANCELLED]
            network.gate.set()  # the page in flight returns; the cancelled job must not take it
            updates = [r.backfill async for r in watch]
            assert updates[-1].state == pb.BACKFILL_STATE_CANCELLED
            last = first
            while (message := await call.read()) is not grpc.aio.EOF:
                assert isinstance(message, pb.BackfillResponse)
                last = message.backfill
            assert last.state == pb.BACKFILL_STATE_CANCELLED
            await asyncio.sleep(0.5)
            got = await stub.GetBackfill(pb.GetBackfillRequest(backfill_id=first.backfill_id), metadata=ACME)
            assert got.backfill.state == pb.BACKFILL_STATE_CANCELLED
            assert got.backfill.fraction_done < 1.0
            assert got.backfill.fetched == cancelled.backfill.fetched  # no page stored after the cancel
            again = await stub.CancelBackfill(
                pb.CancelBackfillRequest(backfill_id=first.backfill_id), metadata=ACME
            )
            assert again.backfill.state == pb.BACKFILL_STATE_CANCELLED
    finally:
        await app.stop()


async def test_a_backfill_resumes_on_another_replica_from_its_progress(
    settings: Settings, world: SimulatedWorld, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = settings.model_copy(
        update={"lease_ttl_seconds": 2.0, "lease_renew_seconds": 0.3, "listening_page_size": 20}
    )
    stalled = GatedNetwork(world, free=3)  # the first replica gets three pages, then hangs
    healthy = GatedNetwork(world, free=10_000)
    await add_queries(settings, [("q1", EXPRESSION)])
    engine = create_engine(settings.database_url_for("listening"))
    backfills = Backfills(session_factory(engine))
    since, until = START - timedelta(hours=2), START - timedelta(hours=1)
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    first = await Replica(settings, {"simulated": stalled}, "first").start()
    second: Replica | None = None
    try:
        job, created = await backfills.create(
            "acme", "q1", since=since, until=until, networks=["simulated"], request_id=None
        )
        assert created

        async def stuck() -> bool:
            return len(stalled.backfill_requests) > 3

        await eventually(stuck)
        halfway = await backfills.get("acme", job.id)
        assert 0 < halfway.fraction < 1
        await first.kill()
        second = await Replica(settings, {"simulated": healthy}, "second").start()

        async def finished() -> bool:
            return (await backfills.get("acme", job.id)).done

        await eventually(finished, within=20)
        done = await backfills.get("acme", job.id)
        assert done.fraction == 1.0
        # the second replica went on from the stored cursor, not from the start of the range
        stored = {r.cursor for r in stalled.backfill_requests[1:4]}
        assert healthy.backfill_requests[0].cursor in stored
        assert healthy.backfill_requests[0].cursor is not None
        expected = await _history(healthy, since, until)
        assert done.collected == len(expected)
        envelopes = await read_mentions(reader, len(expected))
        backfilled = [
            e for e in envelopes if e.mention_collected.mention.published_at.ToDatetime(tzinfo=UTC) < START
        ]
        assert _events_per_mention(backfilled) == Counter(dict.fromkeys(expected, 1))
    finally:
        stalled.gate.set()
        await first.stop()
        if second is not None:
            await second.stop()
        await reader.stop()
        await engine.dispose()
