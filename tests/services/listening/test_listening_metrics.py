"""The collection metrics operators alert on move with what really happens: leases held and taken over
after a crash, errors by kind, backed-off pairs, rounds by outcome, backfill jobs and mentions.

Real broker, SQLite and PostgreSQL; replicas are ``listening_collection_helpers.Replica``. Every test
names its networks uniquely, so the process-wide counters of other tests (and of the other database
run) do not mix in; counters are compared before/after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from listening_collection_helpers import Replica, add_queries
from listening_helpers import ScriptedNetwork, eventually
from prometheus_client import REGISTRY
from resonanz_listening.backfill import SUCCEEDED, Backfills
from resonanz_listening.pairs import error_kind
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    PermanentNetworkError,
    RateLimitedError,
    TransientNetworkError,
)
from resonanz_sdk.manifest import Feature, Manifest, TextRules
from resonanz_sdk.network import RawMention, SearchPage, SearchRequest, StreamRequest
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_error_kinds_follow_the_error_hierarchy() -> None:
    assert error_kind(RateLimitedError("n", "429")) == "rate_limited"
    assert error_kind(TransientNetworkError("n", "503", retry_after=5)) == "rate_limited"
    assert error_kind(TransientNetworkError("n", "reset")) == "transient"
    assert error_kind(AuthenticationFailedError("n", "token")) == "auth"
    assert error_kind(PermanentNetworkError("n", "gone")) == "other"
    assert error_kind(KeyError("plugin bug")) == "other"


async def test_leases_held_and_taken_over_after_a_crash(settings: Settings) -> None:
    # A short TTL so that the dead replica's leases expire within the test.
    settings = settings.model_copy(update={"lease_ttl_seconds": 1.0, "lease_renew_seconds": 0.2})
    name = unique("leases")
    network = ScriptedNetwork(name)
    queries = await add_queries(settings, [(f"q{i}", f"acme{i}") for i in range(4)])
    pairs = {(q, name) for q in queries}
    expired_before = sample("resonanz_collection_leases_expired_total", network=name)

    a = await Replica(settings, {name: network}, unique("replica-a")).start()
    try:

        async def a_holds_all() -> bool:
            return a.held == pairs and sample("resonanz_collection_leases_held", network=name) == 4

        await eventually(a_holds_all)
        assert sample("resonanz_collection_leases_expired_total", network=name) == expired_before
    finally:
        await a.kill()  # a crash: the leases stay taken until they expire

    b = await Replica(settings, {name: network}, unique("replica-b")).start()
    try:

        async def b_took_over() -> bool:
            return b.held == pairs

        await eventually(b_took_over)
        assert sample("resonanz_collection_leases_held", network=name) == 4
        assert sample("resonanz_collection_leases_expired_total", network=name) == expired_before + 4
    finally:
        await b.stop()  # graceful: every lease is released, the gauge goes to zero
    assert sample("resonanz_collection_leases_held", network=name) == 0
    assert sample("resonanz_collection_leases_expired_total", network=name) == expired_before + 4


async def test_errors_back_off_and_rounds_by_outcome(settings: Settings) -> None:
    settings = settings.model_copy(update={"lease_renew_seconds": 0.2})
    ok, limited, auth, flaky = (ScriptedNetwork(unique(stem)) for stem in ("ok", "limited", "auth", "flaky"))
    limited.failures = [RateLimitedError(limited.name, "429", retry_after=120)]
    auth.failures = [AuthenticationFailedError(auth.name, "token revoked")]
    flaky.failures = [TransientNetworkError(flaky.name, "connection reset")]
    networks = {n.name: n for n in (ok, limited, auth, flaky)}
    for n in networks.values():
        n.post("acme news")
    await add_queries(settings, [("q1", "acme"), ("q2", "acme OR widget")])  # two pairs per network

    def errors(network: ScriptedNetwork, kind: str) -> float:
        return sample("resonanz_collection_errors_total", network=network.name, kind=kind)

    def rounds(network: ScriptedNetwork, outcome: str) -> float:
        return sample("resonanz_collection_rounds_total", network=network.name, outcome=outcome)

    def backed_off(network: ScriptedNetwork) -> float | None:
        return REGISTRY.get_sample_value("resonanz_collection_backed_off", {"network": network.name})

    replica = await Replica(settings, networks, unique("replica")).start()
    try:

        async def settled() -> bool:
            return (
                errors(limited, "rate_limited") == 1
                and errors(auth, "auth") == 1
                and errors(flaky, "transient") == 1
                and rounds(limited, "throttled") >= 1  # the other pair is due, the 429 blocks it
                and rounds(flaky, "ok") >= 2  # it recovered after its short back-off
                and backed_off(limited) == 1
            )

        await eventually(settled)
        assert errors(ok, "rate_limited") + errors(ok, "transient") + errors(ok, "auth") == 0
        assert errors(ok, "other") == 0
        assert rounds(ok, "ok") >= 1
        assert rounds(ok, "error") == rounds(ok, "throttled") == 0
        assert rounds(limited, "error") == rounds(auth, "error") == rounds(flaky, "error") == 1
        assert rounds(limited, "ok") == 0  # blocked for the whole 120 s retry-after
        assert backed_off(ok) == 0
        assert backed_off(auth) == 0  # paused until the query is updated: not a back-off
        assert len(limited.requests) == 1
    finally:
        await replica.stop()


class FailingStreamNetwork(ScriptedNetwork):
    """A scripted network that streams: the first connection stays open (silent), every later one is
    refused with an authentication error."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._manifest = Manifest(
            network=name,
            display_name=name,
            features=frozenset({Feature.SEARCH, Feature.STREAM}),
            text=TextRules(500),
        )
        self.connects = 0

    async def stream(self, request: StreamRequest) -> AsyncIterator[RawMention]:
        self.connects += 1
        if self.connects == 1:
            await asyncio.Event().wait()  # open until the collector drops it
        raise AuthenticationFailedError(self.name, "token revoked")
        yield  # an async generator, as the contract asks


async def test_stream_failures_count_once_each(settings: Settings) -> None:
    network = FailingStreamNetwork(unique("stream"))
    # The first catch-up poll fails: the stream reconnects after a short back-off, catches up, and
    # is then refused (paused until the query is updated).
    network.failures = [TransientNetworkError(network.name, "connection reset")]
    await add_queries(settings, [("q1", "acme")])

    def errors(kind: str) -> float:
        return sample("resonanz_collection_errors_total", network=network.name, kind=kind)

    replica = await Replica(settings, {network.name: network}, unique("replica")).start()
    try:

        async def paused() -> bool:
            return errors("auth") == 1

        await eventually(paused)
        assert errors("transient") == 1  # the failed catch-up poll, counted once (not as poll and stream)
        assert errors("rate_limited") == errors("other") == 0
        assert network.connects == 2
        for outcome in ("ok", "error", "throttled"):  # a streamed network has no poll rounds
            assert sample("resonanz_collection_rounds_total", network=network.name, outcome=outcome) == 0
    finally:
        await replica.stop()


class HistoryNetwork(ScriptedNetwork):
    """A scripted network whose posts are history: live searches (no ``since``) find nothing new, and
    backfill searches (``since`` set) wait for ``gate``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.gate = asyncio.Event()

    async def search(self, request: SearchRequest) -> SearchPage:
        if request.since is None:
            return SearchPage(mentions=(), next_cursor=request.cursor)
        await self.gate.wait()
        return await super().search(request)


async def test_backfill_jobs_and_mentions(settings: Settings) -> None:
    settings = settings.model_copy(update={"backfill_concurrency": 1, "lease_renew_seconds": 0.2})
    name = unique("history")
    network = HistoryNetwork(name)
    for i in range(7):
        network.post(f"acme history {i}")
    network.post("unrelated")
    (query_id,) = await add_queries(settings, [("q1", "acme")])
    mentions_before = sample("resonanz_backfill_mentions_total", network=name)
    engine = create_engine(settings.database_url_for("listening"))
    backfills = Backfills(session_factory(engine))
    since = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        jobs = [
            (
                await backfills.create(
                    "acme",
                    query_id,
                    since=since,
                    until=since + timedelta(days=1),
                    networks=[name],
                    request_id=None,
                )
            )[0]
            for _ in range(2)
        ]

        def jobs_gauge(state: str) -> float | None:
            return REGISTRY.get_sample_value("resonanz_backfill_jobs", {"state": state})

        replica = await Replica(settings, {name: network}, unique("replica")).start()
        try:

            async def one_runs_one_waits() -> bool:
                return jobs_gauge("running") == 1 and jobs_gauge("queued") == 1

            await eventually(one_runs_one_waits)
            network.gate.set()

            async def all_done() -> bool:
                return jobs_gauge("running") == 0 and jobs_gauge("queued") == 0

            await eventually(all_done)
        finally:
            await replica.stop()
        for job in jobs:
            assert (await backfills.get("acme", job.id)).state == SUCCEEDED
    finally:
        await engine.dispose()
    # The first job stores the 7 matching posts; the second finds them stored already (not new).
    assert sample("resonanz_backfill_mentions_total", network=name) - mentions_before == 7
    assert sample("resonanz_mentions_collected_total", network=name) == 0
