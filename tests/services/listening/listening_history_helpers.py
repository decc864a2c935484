"""Helpers of the mention-history tests (search, streams, retention, engagement, migrations).

``History`` is a real database (SQLite or PostgreSQL, from the ``database_url`` fixture) with the
listening schema, the real ``Ingestor`` with the history hooks, and a real grpc.aio server serving
``MentionRpcMixin`` (composed here with the generated base, the way the service composes it).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc.aio
from resonanz.listening.v1.listening_service_pb2_grpc import (
    ListeningServiceServicer,
    ListeningServiceStub,
    add_ListeningServiceServicer_to_server,
)
from resonanz_listening import migrate
from resonanz_listening.ingest import Ingestor, SearchResult
from resonanz_listening.mention_rpc import MentionRpcMixin
from resonanz_listening.models import QueryRow
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import HistoryHooks, ListeningStore, TrackMentions
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.network import AuthorInfo, Engagement, RawMention
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

_numbers = itertools.count(1)


def raw(
    text: str,
    *,
    language: str = "en",
    published_at: datetime | None = None,
    external_id: str | None = None,
    engagement: Engagement | None = None,
) -> RawMention:
    n = next(_numbers)
    return RawMention(
        external_id=external_id or f"x{n}",
        url=f"https://scripted.example/x{n}",
        author=AuthorInfo(external_id=f"u{n}", handle=f"user{n}"),
        text=text,
        published_at=published_at or datetime.now(UTC) - timedelta(minutes=n % 1000),
        language=language,
        engagement=engagement or Engagement(),
    )


class _Servicer(MentionRpcMixin, ListeningServiceServicer):
    def __init__(self, store: ListeningStore, signal: MentionSignal) -> None:
        self._store = store
        self._signal = signal
        self._poll_interval = 0.05


@dataclass
class History:
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    store: ListeningStore
    ingestor: Ingestor
    signal: MentionSignal
    hooks: HistoryHooks
    server: GrpcServer | None = None
    channel: grpc.aio.Channel | None = None
    queries: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def stub(self) -> Any:
        assert self.channel is not None
        return ListeningServiceStub(self.channel)

    async def query(self, tenant: str, label: str = "Acme") -> str:
        """The id of a (new or known) query of ``tenant`` with ``label``."""
        key = (tenant, label)
        if key not in self.queries:
            row = QueryRow(
                id=uuid.uuid4().hex,
                tenant=tenant,
                name=label,
                expression="acme",
                languages=[],
                networks=[],
                label=label,
                role=0,
                enabled=True,
                created_at=datetime.now(UTC),
            )
            await self.store.add_query(row)
            self.queries[key] = row.id
        return self.queries[key]

    async def ingest(
        self,
        tenant: str,
        mentions: Sequence[RawMention],
        *,
        label: str = "Acme",
        network: str = "scripted",
        collected_at: datetime | None = None,
    ) -> None:
        query_id = await self.query(tenant, label)
        result = SearchResult(
            query_id=query_id, tenant=tenant, label=label, network=network, cursor=None, mentions=mentions
        )
        await self.ingestor.store([result], collected_at=collected_at or datetime.now(UTC))
        self.signal.notify()

    async def close(self) -> None:
        self.signal.close()
        if self.channel is not None:
            await self.channel.close()
        if self.server is not None:
            await self.server.stop(grace=0.5)
        await self.engine.dispose()


async def open_history(
    database_url: str,
    *,
    serve: bool = True,
    retention: timedelta | None = None,
    track: TrackMentions | None = None,
    clock: Callable[[], datetime] | None = None,
) -> History:
    engine = create_engine(database_url)
    await migrate.upgrade_database(engine)
    sessions = session_factory(engine)
    hooks = HistoryHooks(retention=retention, track=track, clock=clock or (lambda: datetime.now(UTC)))
    signal = MentionSignal()
    store = ListeningStore(sessions)
    history = History(engine, sessions, store, Ingestor(sessions, hooks=hooks), signal, hooks)
    if serve:
        # Only the mention RPCs are under test; the others answer UNIMPLEMENTED (the generated base).
        servicer = _Servicer(store, signal)  # type: ignore[abstract]
        server = GrpcServer(
            host="127.0.0.1",
            port=0,
            services=["resonanz.listening.v1.ListeningService"],
            register=lambda s: add_ListeningServiceServicer_to_server(servicer, s),
            name="listening-history-test",
        )
        port = await server.start()
        history.server = server
        history.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return history
