"""Listening ingest: mentions/s from a network plugin to ``mentions.raw``, as a ratio to plain aiokafka.

Starts its own embedded Tansu broker (or uses ``--bootstrap``) and, in this process, the real
``ListeningApp`` (SQLite file in a temporary directory by default, ``--database-url`` for an empty
PostgreSQL database) with one in-process network plugin, ``benchnet``. Its search serves pre-built
pages of posts (built before the clock starts, so the figure does not include making up posts): every
post matches its query's term and carries what a real post does (author, hashtags, mentions, links,
media, counts). Then, per run:

* **listening**: ``--queries`` listening queries are created through ``CreateQuery`` (gRPC, as a
  user would) and the clock runs until every one of the ``--n`` posts went the whole collector path:
  search pages (``RESONANZ_LISTENING_PAGE_BUDGET`` pages of ``RESONANZ_LISTENING_PAGE_SIZE`` per round
  and query) -> local match of the whole query -> normalise into ``Mention`` -> de-duplicate and store
  with cursor and outbox row (one transaction per round) -> ``publish_many`` to ``mentions.raw``
  (acks from the broker) -> outbox rows marked sent. The end is seen by reading the relay's
  ``resonanz_mentions_produced_total{network="benchnet"}`` counter every 5 ms (in this process: no
  query competes with the app for the database).
* **plain aiokafka**: an ``AIOKafkaProducer`` (``acks=all``, ``linger_ms=5`` like the sdk's producer)
  sends the very envelopes (key and serialized bytes, read back from the outbox) the listening run
  produced, to a fresh topic of the same broker: send all, then await every ack.

Prints a table (mentions/s of each, listening/plain ratio) and the CPU time this process spent per
1,000 mentions in the listening part (a figure less sensitive to a busy machine than wall time), the
median of ``--runs`` runs, each on a fresh database and topic prefix. No assertions.
``--profile FILE`` writes a cProfile of the listening part of the last run (``python -m pstats FILE``;
SQLAlchemy's asyncio greenlets blur cumulative times, so read ``tottime``).

    .venv/bin/python bench/bench_listening.py [--n 20000] [--queries 1] [--runs 3]
        [--poll-interval 0.05] [--page-budget 10] [--page-size 100]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<bench db>] [--bootstrap HOST:PORT]
        [--profile listening.prof]

With ``--database-url`` the database's ``public`` schema is dropped and recreated before every run:
give it a database that holds nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc.aio
from aiokafka import AIOKafkaProducer
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceStub
from resonanz_listening.app import ListeningApp
from resonanz_listening.models import OutboxRow
from resonanz_sdk import metrics
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.eventbus import Topic, ensure_topics, topic_name
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, TextRules
from resonanz_sdk.network import AuthorInfo, Engagement, Media, Network, RawMention, SearchPage, SearchRequest
from resonanz_sdk.plugins import PluginManager, hookimpl
from resonanz_sdk.settings import Settings
from sqlalchemy import select, text

NETWORK = "benchnet"
TENANT = "acme"
WORDS = ("Lieferung", "pünktlich", "Kundenservice", "great", "support", "neue", "Kampagne", "price")


def term(query: int) -> str:
    return f"brand{query}"


def make_posts(n: int, queries: int) -> dict[str, list[RawMention]]:
    """``n`` posts spread over the queries' terms (post i mentions ``brand{i % queries}``)."""
    now = datetime.now(UTC)
    by_term: dict[str, list[RawMention]] = {term(q): [] for q in range(queries)}
    for i in range(n):
        word = term(i % queries)
        text = (
            f"Post {i}: {WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} bei {word.upper()} "
            f"#{word} @{word}_support https://example.com/p/{i} — {WORDS[(i * 3) % len(WORDS)]}!"
        )
        by_term[word].append(
            RawMention(
                external_id=f"{i:09d}",
                url=f"https://benchnet.example/p/{i}",
                author=AuthorInfo(
                    external_id=f"u{i % 5003}",
                    handle=f"user{i % 5003}",
                    display_name=f"User {i % 5003}",
                    followers=(i * 37) % 100_000,
                    verified=i % 50 == 0,
                ),
                text=text,
                published_at=now - timedelta(seconds=n - i),
                language="de" if i % 2 else "en",
                in_reply_to=f"{i - 1:09d}" if i % 5 == 0 and i else None,
                hashtags=(word, "kampagne"),
                mentions=(f"{word}_support",),
                links=(f"https://example.com/p/{i}",),
                media=(Media(MediaKind.IMAGE, f"https://cdn.example/{i}.jpg", "image/jpeg", 120_000),)
                if i % 4 == 0
                else (),
                engagement=Engagement(likes=i % 97, shares=i % 13, replies=i % 7, views=i * 3 % 10_000),
            )
        )
    return by_term


class BenchNetwork(Network):
    """Serves pre-built posts per search term, a page at a time after the cursor (no rate limits)."""

    def __init__(self, posts: dict[str, list[RawMention]]) -> None:
        self._manifest = Manifest(
            network=NETWORK, display_name="Bench", features=frozenset({Feature.SEARCH}), text=TextRules(500)
        )
        self.posts = posts
        self.searches = 0

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def search(self, request: SearchRequest) -> SearchPage:
        self.searches += 1
        found = [p for t in request.terms for p in self.posts.get(t, ())]
        start = int(request.cursor or 0)
        page = tuple(found[start : start + request.limit])
        return SearchPage(mentions=page, next_cursor=str(start + len(page)))


class _Plugin:
    def __init__(self, network: Network) -> None:
        self._network = network

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        register(self._network)


@dataclass
class Run:
    listening: float
    #: CPU seconds this process spent per 1,000 mentions while the listening part ran (all threads).
    cpu_per_1000: float
    plain: float
    searches: int
    size: float


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


def _produced() -> float:
    """Acknowledged ``mentions.raw`` events of benchnet so far (the relay's counter, in this process).

    Collects this one metric only: the whole registry would also read ``/proc`` for the process
    metrics at every look.
    """
    for metric in metrics.MENTIONS_PRODUCED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("network") == NETWORK:
                return sample.value
    return 0.0


async def _envelopes(app: ListeningApp) -> list[tuple[bytes, bytes]]:
    assert app._engine is not None
    async with session_factory(app._engine)() as session:
        rows = await session.execute(select(OutboxRow.key, OutboxRow.envelope).order_by(OutboxRow.id))
        return [(key.encode(), bytes(envelope)) for key, envelope in rows]


async def listening_run(
    args: argparse.Namespace,
    bootstrap: str,
    database_url: str,
    posts: dict[str, list[RawMention]],
    *,
    profile: bool,
) -> tuple[float, float, int, list[tuple[bytes, bytes]]]:
    network = BenchNetwork(posts)
    plugins = PluginManager(allowed=[])
    plugins.register(_Plugin(network), name="bench")
    settings = Settings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
        listening_port=0,
        metrics_port=0,
        plugins="",
        poll_interval_seconds=args.poll_interval,
        listening_page_budget=args.page_budget,
        listening_page_size=args.page_size,
        replica_id="bench",
    )
    app = ListeningApp(settings, plugins)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = ListeningServiceStub(channel)
            with profiled(args.profile if profile else None):
                before = _produced()
                cpu = time.process_time()
                started = time.perf_counter()
                for q in range(args.queries):
                    await stub.CreateQuery(
                        pb.CreateQueryRequest(
                            name=f"bench {q}",
                            expression=f"{term(q)} NOT spam",
                            label=term(q),
                            networks=[NETWORK],
                        ),
                        metadata=tenant_metadata(TENANT),
                    )
                while _produced() - before < args.n:  # noqa: ASYNC110 - a counter, not an event
                    await asyncio.sleep(0.005)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
        return args.n / elapsed, cpu * 1000 / args.n, network.searches, await _envelopes(app)
    finally:
        await app.stop()


async def plain_run(bootstrap: str, payloads: Sequence[tuple[bytes, bytes]]) -> float:
    prefix = f"p{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, [Topic.MENTIONS_RAW], prefix=prefix)
    name = topic_name(Topic.MENTIONS_RAW, prefix)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(name, value=value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def bench(args: argparse.Namespace, bootstrap: str) -> None:
    posts = make_posts(args.n, args.queries)
    runs: list[Run] = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="resonanz-bench-listening-") as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'listening.db'}"
            if args.database_url:
                await _reset(url)
            rate, cpu, searches, payloads = await listening_run(
                args, bootstrap, url, posts, profile=i == args.runs - 1
            )
        assert len(payloads) == args.n, f"expected {args.n} events, the outbox holds {len(payloads)}"
        plain = await plain_run(bootstrap, payloads)
        size = statistics.mean(len(value) for _, value in payloads)
        runs.append(Run(rate, cpu, plain, searches, size))
        print(
            f"run {i + 1}: listening {rate:,.0f}/s ({cpu:.2f} CPU s per 1,000), plain {plain:,.0f}/s, "
            f"{searches} searches"
        )
    listening = statistics.median(r.listening for r in runs)
    cpu = statistics.median(r.cpu_per_1000 for r in runs)
    plain = statistics.median(r.plain for r in runs)
    print()
    print(
        f"{args.n:,} mentions, {args.queries} quer{'y' if args.queries == 1 else 'ies'}, envelopes of "
        f"~{runs[-1].size:.0f} bytes, page budget {args.page_budget} x {args.page_size}, poll interval "
        f"{args.poll_interval}s, {'PostgreSQL' if args.database_url else 'SQLite'}, median of {args.runs}"
    )
    print(f"{'path':<34}{'mentions/s':>12}{'ratio':>8}")
    print(f"{'plain aiokafka (same bytes)':<34}{plain:>12,.0f}{1.0:>8.3f}")
    print(f"{'listening plugin -> mentions.raw':<34}{listening:>12,.0f}{listening / plain:>8.3f}")
    print(f"listening CPU time (this process, all threads): {cpu:.2f} s per 1,000 mentions")


async def _reset(url: str) -> None:
    """Empty the PostgreSQL bench database (drops and recreates its ``public`` schema) before a run."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="mentions per run")
    parser.add_argument("--queries", type=int, default=1, help="listening queries the posts are spread over")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.05, help="RESONANZ_POLL_INTERVAL_SECONDS")
    parser.add_argument("--page-budget", type=int, default=10, help="RESONANZ_LISTENING_PAGE_BUDGET")
    parser.add_argument("--page-size", type=int, default=100, help="RESONANZ_LISTENING_PAGE_SIZE")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database for the bench alone: its public schema is dropped before each run "
        "(default: a SQLite file in a temporary directory)",
    )
    parser.add_argument("--bootstrap", help="a running broker (default: start an embedded Tansu)")
    parser.add_argument("--profile", help="write a cProfile of the last listening run to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.bootstrap:
        asyncio.run(bench(args, args.bootstrap))
        return
    with EmbeddedBroker() as broker:
        asyncio.run(bench(args, broker.bootstrap))


if __name__ == "__main__":
    main()
