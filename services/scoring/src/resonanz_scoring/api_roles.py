"""Which labels are brands and which competitors: the roles of the tenant's listening queries.

Mentions carry only their labels; the role (``QUERY_ROLE_BRAND`` / ``QUERY_ROLE_COMPETITOR``) lives
with the listening queries. :class:`ListeningLabelRoles` asks the listening service
(``ListQueries`` for the tenant) and keeps the answer for :data:`TTL_SECONDS`. When listening cannot be
reached, GetShareOfVoice still answers, with the roles it last knew or ``QUERY_ROLE_UNSPECIFIED``:
roles are a decoration of the shares, not worth failing the call for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TypeAlias

import grpc
import grpc.aio
from resonanz.common.v1 import mention_pb2
from resonanz.listening.v1 import listening_service_pb2, listening_service_pb2_grpc
from resonanz_sdk.grpc import tenant_metadata

log = logging.getLogger(__name__)

#: Seconds a tenant's roles are reused before listening is asked again.
TTL_SECONDS = 60.0
#: Seconds one ListQueries page may take.
CALL_TIMEOUT_SECONDS = 2.0
#: Pages read at most (500 queries each).
MAX_PAGES = 20

Role: TypeAlias = mention_pb2.QueryRole.ValueType


class ListeningLabelRoles:
    """Callable ``await roles(tenant) -> {label: role}`` backed by the listening service at ``address``.

    A label used by queries of both roles counts as a brand.
    """

    def __init__(self, address: str, *, ttl: float = TTL_SECONDS) -> None:
        self._address = address
        self._ttl = ttl
        self._channel: grpc.aio.Channel | None = None
        self._cache: dict[str, tuple[float, dict[str, Role]]] = {}

    async def __call__(self, tenant: str) -> Mapping[str, Role]:
        cached = self._cache.get(tenant)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            roles = await self._fetch(tenant)
        except grpc.aio.AioRpcError as error:
            log.warning("label roles from listening at %s: %s", self._address, error.code().name)
            return cached[1] if cached is not None else {}
        self._cache[tenant] = (time.monotonic(), roles)
        return roles

    async def _fetch(self, tenant: str) -> dict[str, Role]:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address)
        stub = listening_service_pb2_grpc.ListeningServiceStub(self._channel)
        roles: dict[str, Role] = {}
        token = ""
        for _ in range(MAX_PAGES):
            response = await stub.ListQueries(
                listening_service_pb2.ListQueriesRequest(page_size=500, page_token=token),
                metadata=tenant_metadata(tenant),
                timeout=CALL_TIMEOUT_SECONDS,
            )
            for query in response.queries:
                label = query.label.strip()
                if not label or query.role == mention_pb2.QUERY_ROLE_UNSPECIFIED:
                    continue
                if roles.get(label) != mention_pb2.QUERY_ROLE_BRAND:
                    roles[label] = query.role
            token = response.next_page_token
            if not token:
                break
        return roles

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
