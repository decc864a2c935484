"""Label roles for GetShareOfVoice from a real listening service (ListeningApp on the real broker and
database): brand and competitor labels per tenant, the cache, and listening being away."""

from __future__ import annotations

import socket

import grpc.aio
import pytest
from resonanz.common.v1 import mention_pb2
from resonanz.listening.v1 import listening_service_pb2 as lpb
from resonanz.listening.v1 import listening_service_pb2_grpc
from resonanz_listening.app import ListeningApp
from resonanz_scoring.api_roles import ListeningLabelRoles
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration

BRAND, COMPETITOR = mention_pb2.QUERY_ROLE_BRAND, mention_pb2.QUERY_ROLE_COMPETITOR


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def test_roles_come_from_the_tenants_listening_queries(
    kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        listening_port=0,
        metrics_port=0,
        plugins="",
    )
    listening = ListeningApp(settings, PluginManager.from_setting(""))
    await listening.start()
    address = f"127.0.0.1:{listening.grpc_port}"
    roles = ListeningLabelRoles(address, ttl=0.0)  # no caching: every call asks listening
    stopped = False
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = listening_service_pb2_grpc.ListeningServiceStub(channel)
            for name, label, role, tenant in (
                ("a1", "acme", BRAND, "acme-corp"),
                ("a2", "acme", COMPETITOR, "acme-corp"),  # a label used as both counts as a brand
                ("g", "globex", COMPETITOR, "acme-corp"),
                ("u", "unsorted", mention_pb2.QUERY_ROLE_UNSPECIFIED, "acme-corp"),
                ("x", "globex", BRAND, "globex-inc"),
            ):
                await stub.CreateQuery(
                    lpb.CreateQueryRequest(name=name, expression=label, label=label, role=role),
                    metadata=tenant_metadata(tenant),
                )
        assert await roles("acme-corp") == {"acme": BRAND, "globex": COMPETITOR}
        assert await roles("globex-inc") == {"globex": BRAND}
        assert await roles("nobody") == {}
        await listening.stop()
        stopped = True
        # listening away: the roles last known are kept; a client that never reached it has none
        assert await roles("acme-corp") == {"acme": BRAND, "globex": COMPETITOR}
        fresh = ListeningLabelRoles(address)
        assert await fresh("acme-corp") == {}
        await fresh.close()
    finally:
        await roles.close()
        if not stopped:
            await listening.stop()


async def test_unreachable_listening_gives_no_roles() -> None:
    roles = ListeningLabelRoles(_free_address())
    try:
        assert await roles("acme-corp") == {}
    finally:
        await roles.close()
