"""CreatePost throughput of the real PublishingApp, as a ratio to a bare grpc.aio server.

Starts an embedded Tansu broker (or uses ``--bootstrap``) and, in this process, the real
``PublishingApp`` (SQLite file by default, ``--database-url`` for PostgreSQL; a fresh, empty database
is expected) with a small in-process test network plugin. The account is connected first through
``AccountService.ConnectAccount`` on the same port, as a user would. Then the same client (one
channel, ``--concurrency`` tasks taking requests from one shared counter) sends ``--requests``
CreatePost calls, first to the app, then to a bare ``grpc.aio`` server in the same process whose
CreatePost answers a canned ``CreatePostResponse`` (the app's answer to a warm-up call). Both servers
get the same warm-up and the same requests (each its own idempotency key; scheduled an hour ahead, so
the publish pipeline stays idle and the figure is the cost of validating and storing a post).

Prints requests/s and p50/p99 latency of both and the app/bare throughput ratio. No assertions.

    .venv/bin/python bench/bench_publishing_create.py [--requests 2000] [--concurrency 32]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpc.aio
from pydantic import SecretStr
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_publishing.credentials import CredentialCipher
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.grpc import call_metadata
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextCounting, TextRules
from resonanz_sdk.network import AccountRef, Credentials, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from resonanz_sdk.settings import Settings

NETWORK, HANDLE, TENANT, ACTOR = "benchnet", "@acme", "acme", "bench"
WARMUP = 50
SERVICE = pb.DESCRIPTOR.services_by_name["PublishingService"].full_name


class BenchNetwork(Network):
    """Accepts every post (the bench never lets one fall due; this only has to be a valid target)."""

    def __init__(self) -> None:
        self._manifest = Manifest(
            network=NETWORK,
            display_name="Bench",
            features=frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
            text=TextRules(max_length=500, counting=TextCounting.CODE_POINTS),
            media=MediaRules(
                max_items=4, allowed=frozenset({MediaKind.IMAGE}), max_bytes={MediaKind.IMAGE: 5_000_000}
            ),
        )

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        external_id = uuid.uuid4().hex[:12]
        return PublishedPost(
            external_id=external_id,
            url=f"https://bench.example/{external_id}",
            published_at=datetime.now(UTC),
        )

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return None

    async def refresh_credentials(self, account: AccountRef) -> Credentials:
        return Credentials({"token": "bench"})


class _Plugin:
    def __init__(self, network: Network) -> None:
        self._network = network

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        register(self._network)


def canned_create_post(response: pb.CreatePostResponse) -> grpc.GenericRpcHandler:
    """The baseline: a CreatePost handler that answers the same pre-built response, touching nothing."""

    async def create_post(
        request: pb.CreatePostRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.CreatePostResponse:
        return response

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "CreatePost": grpc.unary_unary_rpc_method_handler(
                create_post,
                request_deserializer=pb.CreatePostRequest.FromString,
                response_serializer=pb.CreatePostResponse.SerializeToString,
            )
        },
    )


@dataclass
class Result:
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_requests(n: int, tag: str) -> list[pb.CreatePostRequest]:
    at = datetime.now(UTC) + timedelta(hours=1)
    requests = []
    for i in range(n):
        request = pb.CreatePostRequest(
            text=f"Unser neues Produkt ist da! Beitrag {i} #launch https://acme.example/p/{i}",
            targets=[pb.TargetSpec(network=NETWORK, account=HANDLE)],
            labels=["bench"],
            idempotency_key=f"{tag}-{i}",
        )
        request.scheduled_at.FromDatetime(at)
        requests.append(request)
    return requests


async def drive(port: int, requests: Sequence[pb.CreatePostRequest], concurrency: int) -> Result:
    """Send every request with ``concurrency`` tasks over one channel; time and per-call latency."""
    metadata = call_metadata(TENANT, ACTOR)
    latencies: list[float] = []
    todo = iter(requests)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PublishingServiceStub(channel)

        async def client() -> None:
            for request in todo:
                started = time.perf_counter()
                await stub.CreatePost(request, metadata=metadata)
                latencies.append(time.perf_counter() - started)

        await stub.CreatePost(requests[0], metadata=metadata)  # connect before the clock starts
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(seconds, latencies)


async def connect_account(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = account_service_pb2_grpc.AccountServiceStub(channel)
        await stub.ConnectAccount(
            apb.ConnectAccountRequest(
                account=apb.AccountRef(network=NETWORK, handle=HANDLE),
                display_name="ACME",
                credentials={"token": "bench"},
            ),
            metadata=call_metadata(TENANT, ACTOR),
        )


async def bench(args: argparse.Namespace, bootstrap: str, data_dir: Path) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    settings = Settings(
        data_dir=data_dir,
        database_url=args.database_url,
        credential_keys=SecretStr(CredentialCipher.generate_key()),
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        consumer_group_prefix=f"{prefix}resonanz",
        plugins="",
        publishing_port=0,
        metrics_port=0,
    )
    plugins = PluginManager(allowed=[])
    plugins.register(_Plugin(BenchNetwork()), name="bench")
    app = PublishingApp(settings, plugins)
    await app.start()
    try:
        await connect_account(app.grpc_port)
        warm = make_requests(WARMUP, "warm-app")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            canned = await pb_grpc.PublishingServiceStub(channel).CreatePost(
                warm[0], metadata=call_metadata(TENANT, ACTOR)
            )
        await drive(app.grpc_port, warm, args.concurrency)
        app_result = await drive(app.grpc_port, make_requests(args.requests, "app"), args.concurrency)
    finally:
        await app.stop()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((canned_create_post(canned),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await drive(port, make_requests(WARMUP, "warm-bare"), args.concurrency)
        bare_result = await drive(port, make_requests(args.requests, "bare"), args.concurrency)
    finally:
        await server.stop(grace=1.0)

    print(f"{'server':<22}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}")
    for name, result in (("PublishingApp", app_result), ("bare grpc.aio", bare_result)):
        print(
            f"{name:<22}{result.rate:>12,.0f}{result.quantile(0.5) * 1000:>9.1f}"
            f"{result.quantile(0.99) * 1000:>9.1f}"
        )
    print(f"ratio app/bare: {app_result.rate / bare_result.rate:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured CreatePost calls per server")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client tasks")
    parser.add_argument(
        "--database-url", default="", help="an empty database (default: a fresh SQLite file in a tmp dir)"
    )
    parser.add_argument("--bootstrap", default="", help="use this broker instead of an embedded Tansu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bootstrap = args.bootstrap
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker(log_dir=tmp / "tansu")).bootstrap
        database = args.database_url or "SQLite"
        print(
            f"CreatePost x{args.requests}, {args.concurrency} concurrent clients, one channel; "
            f"{database.split('@')[-1]}; broker {bootstrap}"
        )
        asyncio.run(bench(args, bootstrap, tmp / "data"))


if __name__ == "__main__":
    main()
