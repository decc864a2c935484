"""Collection end to end: scripted network -> collector -> database + outbox -> ``mentions.raw``.

Runs on the real embedded broker and on both databases. The network is ``ScriptedNetwork`` from this
directory's conftest (registered through the real PluginManager) until the simulated plugin lands.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from listening_helpers import RawTopicReader, ScriptedNetwork, eventually, plugin_manager
from prometheus_client import REGISTRY
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceStub
from resonanz_listening.app import ListeningApp
from resonanz_listening.ingest import Ingestor, SearchResult
from resonanz_listening.models import QueryRow, metadata
from resonanz_listening.store import ListeningStore
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import RateLimitedError
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.settings import Settings

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub

pytestmark = pytest.mark.integration

ACME = tenant_metadata("acme")
GLOBEX = tenant_metadata("globex")


def collected_count() -> float:
    return REGISTRY.get_sample_value("resonanz_mentions_collected_total", {"network": "scripted"}) or 0.0


def mention_ids(envelopes: list[EventEnvelope]) -> list[str]:
    return [e.mention_collected.mention.id for e in envelopes]


async def add_query(stub: ListeningServiceAsyncStub, expression: str, label: str, **fields: object) -> str:
    request = pb.CreateQueryRequest(name=label, expression=expression, label=label, **fields)  # type: ignore[arg-type]
    return (await stub.CreateQuery(request, metadata=ACME if "tenant" not in fields else ())).query.id


async def search(
    stub: ListeningServiceAsyncStub, text: str = "", *, metadata: object = ACME, **fields: object
) -> list[str]:
    request = pb.SearchMentionsRequest(text=text, **fields)  # type: ignore[arg-type]
    response = await stub.SearchMentions(request, metadata=metadata)  # type: ignore[arg-type]
    return [m.id for m in response.mentions]


async def read_one(call: Any, within: float = 5.0) -> pb.StreamMentionsResponse:
    """The next message of a StreamMentions call; TimeoutError when none comes ``within`` seconds."""
    message = await asyncio.wait_for(call.read(), within)
    assert isinstance(message, pb.StreamMentionsResponse)
    return message


async def test_mentions_flow_once_and_survive_a_restart(
    settings: Settings, network: ScriptedNetwork, kafka_bootstrap: str, topic_prefix: str
) -> None:
    before = collected_count()
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    try:
        await _first_run(settings, network, reader, before)
        await _second_run(settings, network, reader)
    finally:
        await reader.stop()


async def _first_run(
    settings: Settings, network: ScriptedNetwork, reader: RawTopicReader, before: float
) -> None:
    app = ListeningApp(settings, plugin_manager(network))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = ListeningServiceStub(channel)
            q_acme = await add_query(stub, "(acme OR #acme) NOT support", "Acme", languages=["en", "de"])
            q_phone = await add_query(stub, '"new phone"', "Phones")
            network.post("Acme launches a new phone")  # p1: both queries
            network.post("acme support is slow")  # p2: excluded by NOT
            network.post("Nothing to see")  # p3: no term
            network.post("Das neue Telefon", hashtags=["ACME"], language="de")  # p4: hashtag
            network.post("acme en français", language="fr")  # p5: language filter
            envelopes = await reader.read_until(2)
            assert sorted(mention_ids(envelopes)) == ["scripted:p1", "scripted:p4"]
            first = next(e for e in envelopes if e.mention_collected.mention.id == "scripted:p1")
            mention = first.mention_collected.mention
            assert first.tenant == mention.tenant == "acme"
            assert first.type == "resonanz.events.v1.MentionCollected"
            # The event carries the queries of the round that first stored it; the stored mention
            # gathers every query that matched it, once.
            assert set(mention.query_ids) <= {q_acme, q_phone}
            response = await stub.SearchMentions(pb.SearchMentionsRequest(text="launches"), metadata=ACME)
            (stored,) = response.mentions
            assert sorted(stored.query_ids) == sorted([q_acme, q_phone])
            assert list(stored.labels) == ["Acme", "Phones"]
            assert mention.network == "scripted"
            assert mention.external_id == "p1"
            assert mention.author.handle == "user1"
            assert mention.collected_at.seconds > 0
            assert collected_count() - before == 2
            assert sorted(await search(stub, "PHONE")) == ["scripted:p1"]
            assert sorted(await search(stub, labels=["Acme"])) == ["scripted:p1", "scripted:p4"]
            assert await search(stub, labels=["Phones"]) == ["scripted:p1"]
    finally:
        await app.stop()


async def _second_run(settings: Settings, network: ScriptedNetwork, reader: RawTopicReader) -> None:
    network.post("acme again, the new phone")  # p6, posted while the service is down
    calls_before_restart = len(network.requests)
    app = ListeningApp(settings, plugin_manager(network))
    await app.start()
    try:
        envelopes = await reader.read_until(3)
        ids = mention_ids(envelopes)
        assert sorted(ids) == ["scripted:p1", "scripted:p4", "scripted:p6"]  # nothing lost, nothing twice
        assert len({e.event_id for e in envelopes}) == 3
        resumed = network.requests[calls_before_restart:]
        assert resumed
        assert {r.cursor for r in resumed[:2]} == {"5"}  # the durable cursor, not the beginning
    finally:
        await app.stop()


async def test_unsent_outbox_rows_are_sent_at_start_up(
    settings: Settings, network: ScriptedNetwork, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # A previous run stored a mention and its event, then died before producing it.
    engine = create_engine(settings.database_url_for("listening"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    await ListeningStore(sessions).add_query(
        QueryRow(id="q1", tenant="acme", name="n", expression="acme", label="Acme", created_at=now)
    )
    raw = network.post("acme before the crash")
    stored = await Ingestor(sessions).store(
        [SearchResult("q1", "acme", "Acme", "scripted", "1", [raw])], collected_at=now
    )
    assert stored["scripted"] == 1
    await engine.dispose()

    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    for _ in range(2):  # the second start finds nothing unsent
        app = ListeningApp(settings, plugin_manager(network))
        await app.start()
        await app.stop()
    await reader.start()
    try:
        envelopes = await reader.read_until(1, within=5)
    finally:
        await reader.stop()
    assert mention_ids(envelopes) == ["scripted:p1"]


async def test_stream_mentions_resumes_from_a_cursor_then_goes_live(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork
) -> None:
    await add_query(stub, "acme", "Acme")
    for i in range(3):
        network.post(f"acme post {i}")

    async def three_stored() -> bool:
        return len(await search(stub)) == 3

    await eventually(three_stored)

    call = stub.StreamMentions(pb.StreamMentionsRequest(), metadata=ACME)
    first = [await read_one(call) for _ in range(2)]
    call.cancel()
    assert [r.mention.id for r in first] == ["scripted:p1", "scripted:p2"]

    resumed = stub.StreamMentions(pb.StreamMentionsRequest(cursor=first[-1].cursor), metadata=ACME)
    try:
        third = await read_one(resumed, 5)
        assert third.mention.id == "scripted:p3"
        network.post("acme goes live")
        live = await read_one(resumed, 10)
        assert live.mention.id == "scripted:p4"
        assert live.mention.labels == ["Acme"]
    finally:
        resumed.cancel()

    # filters: other network, other label, or a time after everything match nothing; a match does
    for request, expected in [
        (pb.StreamMentionsRequest(networks=["other"]), None),
        (pb.StreamMentionsRequest(labels=["Other"]), None),
        (pb.StreamMentionsRequest(since=Timestamp(seconds=4_000_000_000)), None),
        (pb.StreamMentionsRequest(labels=["Acme"], networks=["scripted"]), "scripted:p1"),
    ]:
        filtered = stub.StreamMentions(request, metadata=ACME)
        try:
            if expected is None:
                with pytest.raises(TimeoutError):
                    await read_one(filtered, 0.5)
            else:
                assert (await read_one(filtered, 5)).mention.id == expected
        finally:
            filtered.cancel()


async def test_mentions_are_walled_per_tenant(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork
) -> None:
    acme_query = await add_query(stub, "acme", "Acme")
    request = pb.CreateQueryRequest(name="g", expression="acme OR widget", label="Globex")
    globex_query = (await stub.CreateQuery(request, metadata=GLOBEX)).query.id
    network.post("acme widget")  # both tenants' queries match: stored once per tenant
    network.post("a widget only")  # only globex

    async def both_stored() -> bool:
        return len(await search(stub)) == 1 and len(await search(stub, metadata=GLOBEX)) == 2

    await eventually(both_stored)
    acme = (await stub.SearchMentions(pb.SearchMentionsRequest(), metadata=ACME)).mentions
    globex = (await stub.SearchMentions(pb.SearchMentionsRequest(), metadata=GLOBEX)).mentions
    assert [(m.tenant, list(m.query_ids), list(m.labels)) for m in acme] == [("acme", [acme_query], ["Acme"])]
    assert {m.tenant for m in globex} == {"globex"}
    assert all(list(m.query_ids) == [globex_query] for m in globex)
    # Full-text search ("only" is an English stop word): globex's p2 is the only widget without acme.
    assert await search(stub, "widget -acme") == []
    assert await search(stub, "widget -acme", metadata=GLOBEX) == ["scripted:p2"]

    call = stub.StreamMentions(pb.StreamMentionsRequest(), metadata=ACME)
    try:
        assert (await read_one(call)).mention.id == "scripted:p1"
        with pytest.raises(TimeoutError):
            await read_one(call, 0.5)  # globex's p2 never reaches acme
    finally:
        call.cancel()


async def test_rate_limited_network_backs_off_and_keeps_the_cursor(
    stub: ListeningServiceAsyncStub, network: ScriptedNetwork
) -> None:
    await add_query(stub, "acme", "Acme")
    network.post("acme one")

    async def stored(n: int) -> bool:
        return len(await search(stub)) == n

    await eventually(lambda: stored(1))
    await eventually(lambda: _has_request_with_cursor(network, "1"))
    network.failures.append(RateLimitedError("scripted", "slow down", retry_after=1.0))
    failed_at = len(network.requests)
    network.post("acme two")
    await eventually(lambda: stored(2))

    failed, retried = network.requests[failed_at], network.requests[failed_at + 1]
    assert failed.cursor == retried.cursor == "1"  # the failure did not move or lose the cursor
    assert network.times[failed_at + 1] - network.times[failed_at] >= 0.95  # retry_after respected
    assert sorted(await search(stub)) == ["scripted:p1", "scripted:p2"]


async def _has_request_with_cursor(network: ScriptedNetwork, cursor: str) -> bool:
    return any(r.cursor == cursor for r in network.requests)
