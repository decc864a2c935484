"""The gRPC ``resonanz.listening.v1.ListeningService``, composed of one mixin per concern.

* :class:`~resonanz_listening.query_rpc.QueryRpcMixin`: CreateQuery, GetQuery, ListQueries,
  UpdateQuery, DeleteQuery;
* :class:`~resonanz_listening.mention_rpc.MentionRpcMixin`: StreamMentions, SearchMentions;
* :class:`~resonanz_listening.collection_rpc.CollectionRpcMixin`: GetQueryStatus, Backfill,
  GetBackfill, ListBackfills, WatchBackfill, CancelBackfill.

UpdateQuery and DeleteQuery tell the collection (:class:`~resonanz_listening.collection_rpc.CollectionApi`)
after they committed: an update resumes a paused or backed-off collection (and drops the cursors when
the search changed), a delete releases the query's leases, forgets its collection state and cancels
its pending and running backfills.

Every method reads the tenant from metadata and only ever sees that tenant's rows. The mixins come
before the generated base class, so their methods win over its UNIMPLEMENTED defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceServicer
from resonanz_sdk.network import Network
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.collection_rpc import CollectionApi, CollectionRpcMixin
from resonanz_listening.mention_rpc import MentionRpcMixin
from resonanz_listening.query_rpc import QueryRpcMixin
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore


class ListeningServicer(QueryRpcMixin, MentionRpcMixin, CollectionRpcMixin, ListeningServiceServicer):
    """The whole service; sets the attributes every mixin reads."""

    def __init__(
        self,
        store: ListeningStore,
        networks: Mapping[str, Network],
        signal: MentionSignal,
        *,
        sessions: async_sessionmaker[Any],
        poll_interval: float,
        collection: CollectionApi,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._networks = networks
        self._signal = signal
        self._poll_interval = poll_interval
        self._query_hooks = collection
        self.init_collection_rpc(collection)
