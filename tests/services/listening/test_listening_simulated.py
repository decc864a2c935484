"""The listening service against the simulated network plugin, loaded by its entry-point name.

The simulated world runs fast (speed 60, more activity) with a seed of its own, so that brand talk
arrives within seconds; every mention must satisfy the whole query and reach ``mentions.raw`` once,
also across a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc.aio
import pytest
from listening_helpers import RawTopicReader
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceStub
from resonanz_listening.app import ListeningApp
from resonanz_listening.query import matches, parse
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings, get_settings

pytestmark = pytest.mark.integration

EXPRESSION = "(resonanz OR klangwerk) NOT football"


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginManager]:
    monkeypatch.setenv("RESONANZ_SIMULATED_SPEED", "60")
    monkeypatch.setenv("RESONANZ_SIMULATED_ACTIVITY", "5")
    monkeypatch.setenv("RESONANZ_SIMULATED_SEED", str(uuid.uuid4().int % 1_000_000))
    get_settings.cache_clear()
    pm = PluginManager.from_setting("simulated")
    pm.load_entry_points()
    yield pm
    get_settings.cache_clear()


async def test_simulated_mentions_reach_mentions_raw_once(
    settings: Settings, simulated: PluginManager, kafka_bootstrap: str, topic_prefix: str
) -> None:
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    try:
        app = ListeningApp(settings, simulated)
        await app.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
                request = pb.CreateQueryRequest(
                    name="Brands", expression=EXPRESSION, label="Resonanz", networks=["simulated"]
                )
                await ListeningServiceStub(channel).CreateQuery(request, metadata=tenant_metadata("acme"))
            first = len(await reader.read_until(5))
        finally:
            await app.stop()
        app = ListeningApp(settings, simulated)
        await app.start()
        try:
            envelopes = await reader.read_until(first + 5)
        finally:
            await app.stop()
    finally:
        await reader.stop()
        await simulated.aclose()

    mentions = [e.mention_collected.mention for e in envelopes]
    assert len(mentions) >= first + 5
    ids = [m.id for m in mentions]
    assert len(ids) == len(set(ids))  # once each, across the restart
    ast = parse(EXPRESSION)
    for m in mentions:
        assert m.id.startswith("simulated:")
        assert m.tenant == "acme"
        assert list(m.labels) == ["Resonanz"]
        assert matches(ast, m.text, m.hashtags, m.mentioned_handles), m.text
