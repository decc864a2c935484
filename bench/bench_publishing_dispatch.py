"""Dispatch lateness: 10,000 posts due within one minute, dispatched by 1 and by 3 dispatcher replicas.

Per run: a fresh database (SQLite file, or a new PostgreSQL database on ``--postgres-admin``), N posts
with one PENDING target each inserted in bulk, due times spread evenly over ``--spread`` seconds
starting ``--lead`` seconds after the insert. Then R replicas each run what the app runs: a dispatcher
loop (``Dispatcher.dispatch_due`` every ``--tick`` seconds) and an outbox relay woken by it, each
replica with its own engine and producer, against the real broker (an embedded Tansu started here, or
``--bootstrap``). A plain consumer reads ``publish.requests``; the lateness of a request is its
record's timestamp (producer CreateTime: when the relay handed it to Kafka) minus the target's due
time. Prints p50/p99/max lateness and whether every target was requested exactly once. The replicas
share one process and one event loop, so R=3 shows coordination cost more than parallel speed-up.

    .venv/bin/python bench/bench_publishing_dispatch.py [--posts 10000] [--database sqlite|postgresql]
        [--replicas 1,3] [--spread 60] [--lead 5] [--tick 1.0] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
from aiokafka import AIOKafkaConsumer
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import Base, PostRow, TargetRow
from resonanz_publishing.outbox import OutboxRelay
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, topic_name
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class RunResult:
    replicas: int
    received: int
    unique: int
    lateness: list[float]
    drain_seconds: float


@contextlib.asynccontextmanager
async def fresh_database(kind: str, admin_dsn: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"resonanz_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def insert_due_posts(
    engine: AsyncEngine, n: int, first_due: datetime, spread: float
) -> dict[str, datetime]:
    """N posts, one target each, due evenly over ``spread`` seconds; due time by post id."""
    now = datetime.now(UTC)
    due = {uuid.uuid4().hex: first_due + timedelta(seconds=spread * i / max(n - 1, 1)) for i in range(n)}
    posts = [
        {
            "id": post_id,
            "tenant": "acme",
            "text": f"Beitrag {i} https://acme.example/p/{i}",
            "media": [],
            "variants": [],
            "campaign_id": "",
            "labels": [],
            "status": PostStatus.POST_STATUS_SCHEDULED,
            "scheduled_at": at,
            "created_at": now,
            "updated_at": now,
        }
        for i, (post_id, at) in enumerate(due.items())
    ]
    targets = [
        {
            "post_id": post_id,
            "tenant": "acme",
            "position": 0,
            "network": "simulated",
            "account": f"@brand{i % 100}",
            "status": TargetStatus.TARGET_STATUS_PENDING,
            "attempts": 0,
            "updated_at": now,
            "scheduled_at": at,
            "due_at": at,
        }
        for i, (post_id, at) in enumerate(due.items())
    ]
    async with session_factory(engine).begin() as session:
        for start in range(0, n, 2000):
            await session.execute(insert(PostRow), posts[start : start + 2000])
            await session.execute(insert(TargetRow), targets[start : start + 2000])
    return due


async def replica(database_url: str, bootstrap: str, prefix: str, tick: float, stop: asyncio.Event) -> None:
    """One app replica's dispatcher loop and outbox relay."""
    engine = create_engine(database_url)
    producer = EventProducer(bootstrap, prefix=prefix)
    await producer.start()
    dispatcher = Dispatcher(engine)
    relay = OutboxRelay(engine, producer.publish_many)
    wake = asyncio.Event()

    async def dispatch_loop() -> None:
        while not stop.is_set():
            if await dispatcher.dispatch_due():
                wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def relay_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), tick)
            wake.clear()
            await relay.relay_all()

    try:
        await asyncio.gather(dispatch_loop(), relay_loop())
    finally:
        await producer.stop()
        await engine.dispose()


async def run(args: argparse.Namespace, bootstrap: str, replicas: int) -> RunResult:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, [Topic.PUBLISH_REQUESTS], prefix=prefix)
    async with fresh_database(args.database, args.postgres_admin) as url:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        first_due = datetime.now(UTC) + timedelta(seconds=args.lead)
        due = await insert_due_posts(engine, args.posts, first_due, args.spread)
        await engine.dispose()

        consumer = AIOKafkaConsumer(
            topic_name(Topic.PUBLISH_REQUESTS, prefix),
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(replica(url, bootstrap, prefix, args.tick, stop)) for _ in range(replicas)
        ]
        lateness: list[float] = []
        keys: set[str] = set()
        deadline = time.monotonic() + args.lead + args.spread + args.timeout
        last_due = max(due.values())
        try:
            while len(lateness) < args.posts and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                    for record in records:
                        request = EventEnvelope.FromString(record.value or b"").publish_requested
                        keys.add(request.idempotency_key)
                        reached = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                        lateness.append((reached - due[request.post_id]).total_seconds())
            drained = (datetime.now(UTC) - last_due).total_seconds()
            # Anything sent twice would arrive within a few more polls.
            for _ in range(5):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        request = EventEnvelope.FromString(record.value or b"").publish_requested
                        keys.add(request.idempotency_key)
                        lateness.append(float("nan"))
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.stop()
    return RunResult(replicas, len(lateness), len(keys), [x for x in lateness if not math.isnan(x)], drained)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-admin", default=DEFAULT_POSTGRES_ADMIN)
    parser.add_argument("--replicas", default="1,3", help="comma-separated replica counts, one run each")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times are spread over")
    parser.add_argument(
        "--lead", type=float, default=5.0, help="seconds from the insert to the first due time"
    )
    parser.add_argument("--tick", type=float, default=1.0, help="dispatcher tick (dispatch_interval_seconds)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait after the last due time"
    )
    parser.add_argument("--bootstrap", default="", help="use this broker instead of an embedded Tansu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap
        if not bootstrap:
            broker = stack.enter_context(
                EmbeddedBroker(log_dir=Path(stack.enter_context(tempfile.TemporaryDirectory())))
            )
            bootstrap = broker.bootstrap
        print(
            f"{args.posts} posts due over {args.spread:.0f}s, {args.database}, "
            f"tick {args.tick}s, broker {bootstrap}"
        )
        for replicas in (int(r) for r in args.replicas.split(",")):
            result = await run(args, bootstrap, replicas)
            ok = result.received == args.posts == result.unique
            late = result.lateness
            once = "each exactly once" if ok else "NOT exactly once"
            p50, p99, worst = (quantile(late, 0.5), quantile(late, 0.99), max(late))
            print(
                f"replicas={result.replicas}: requested {result.unique}/{args.posts} targets, "
                f"{result.received} requests ({once}); lateness p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
                f"last request {result.drain_seconds:.2f}s after the last due time"
            )


if __name__ == "__main__":
    asyncio.run(main())
