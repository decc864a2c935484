"""``StreamMentions`` and ``SearchMentions``: the mention history over gRPC (a servicer mixin).

:class:`MentionRpcMixin` is inherited by the service's ``ListeningServicer``, which sets
``_store``, ``_signal`` and ``_poll_interval``. Both methods validate every field first (all
violations together, INVALID_ARGUMENT) and only ever read the caller's tenant's rows.

Search page tokens carry the position of the page's last mention (publication time and seq) and a
digest of the tenant and every filter of the request: a token is refused (INVALID_ARGUMENT on
``page_token``) when it was edited (CRC) or is replayed with other filters or by another tenant.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc.aio
from resonanz.listening.v1 import listening_service_pb2 as pb
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, page_token, tenant_of

from resonanz_listening import convert, search
from resonanz_listening.languages import is_iso_639_1
from resonanz_listening.search import SearchQuery
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore, SearchPosition

Context = grpc.aio.ServicerContext[Any, Any]

#: Rows a stream reads from the database at a time.
STREAM_BATCH = 200
#: Most values in one repeated filter field.
MAX_FILTER_VALUES = 100
_MAX_VALUE = {"labels": 200, "networks": 63, "query_ids": 32}


def _check_values(v: Validator, values: Sequence[str], field: str) -> None:
    v.require(len(values) <= MAX_FILTER_VALUES, field, f"at most {MAX_FILTER_VALUES} values")
    limit = _MAX_VALUE[field]
    for i, value in enumerate(values[:MAX_FILTER_VALUES]):
        if v.non_empty(value, f"{field}[{i}]"):
            v.max_length(value, limit, f"{field}[{i}]")


def _check_languages(v: Validator, values: Sequence[str]) -> None:
    v.require(len(values) <= MAX_FILTER_VALUES, "languages", f"at most {MAX_FILTER_VALUES} values")
    for i, code in enumerate(values[:MAX_FILTER_VALUES]):
        v.require(is_iso_639_1(code), f"languages[{i}]", f"{code!r} is not a lower-case ISO 639-1 code")


def _stream_cursor(token: str) -> int:
    raw = page_token.decode(token, "cursor")
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValidationError.single("cursor", "invalid cursor: pass a cursor from a response unchanged")
    return int(raw)


def _search_digest(tenant: str, request: pb.SearchMentionsRequest) -> str:
    parts = [
        tenant,
        request.text.strip(),
        "\x1f".join(sorted(request.labels)),
        "\x1f".join(sorted(request.networks)),
        "\x1f".join(sorted(request.query_ids)),
        "\x1f".join(sorted(request.languages)),
        request.since.SerializeToString().hex() if request.HasField("since") else "",
        request.until.SerializeToString().hex() if request.HasField("until") else "",
    ]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:16]


def _encode_position(position: SearchPosition, digest: str) -> str:
    micros = int(convert.aware(position.published_at).timestamp() * 1_000_000)
    return page_token.encode(f"{micros}.{position.seq}.{digest}")


def _decode_position(token: str, digest: str) -> SearchPosition | None:
    raw = page_token.decode(token, "page_token")
    if not raw:
        return None
    parts = raw.split(".")
    if len(parts) != 3 or not parts[0].lstrip("-").isdigit() or not parts[1].isdigit():
        raise ValidationError.single("page_token", "invalid page token: pass next_page_token unchanged")
    if parts[2] != digest:
        raise ValidationError.single(
            "page_token", "this page token belongs to a search with other text or filters"
        )
    published = datetime.fromtimestamp(int(parts[0]) / 1_000_000, UTC)
    return SearchPosition(published_at=published, seq=int(parts[1]))


class MentionRpcMixin:
    """``StreamMentions`` and ``SearchMentions`` of ``resonanz.listening.v1.ListeningService``."""

    _store: ListeningStore
    _signal: MentionSignal
    _poll_interval: float

    async def StreamMentions(  # noqa: N802 - gRPC method name
        self, request: pb.StreamMentionsRequest, context: Context
    ) -> AsyncIterator[pb.StreamMentionsResponse]:
        """The tenant's mentions in commit order after ``cursor``, then live ones as they are stored."""
        tenant = tenant_of(context)
        v = Validator()
        _check_values(v, list(request.labels), "labels")
        _check_values(v, list(request.networks), "networks")
        _check_values(v, list(request.query_ids), "query_ids")
        v.check()
        after = _stream_cursor(request.cursor)
        since = convert.from_timestamp(request.since) if request.HasField("since") else None
        labels, networks, query_ids = list(request.labels), list(request.networks), list(request.query_ids)
        while not self._signal.closed:
            rows = await self._store.mentions_after(
                tenant,
                after_seq=after,
                labels=labels,
                networks=networks,
                query_ids=query_ids,
                since=since,
                limit=STREAM_BATCH,
            )
            for row in rows:
                after = row.seq
                yield pb.StreamMentionsResponse(
                    mention=convert.mention_from_row(row), cursor=page_token.encode(str(row.seq))
                )
            if len(rows) < STREAM_BATCH:
                await self._signal.wait(self._poll_interval)

    async def SearchMentions(  # noqa: N802 - gRPC method name
        self, request: pb.SearchMentionsRequest, context: Context
    ) -> pb.SearchMentionsResponse:
        """Full-text search over the stored mentions, newest published first (see :mod:`.search`)."""
        tenant = tenant_of(context)
        v = Validator()
        size = v.page_size(request.page_size, "page_size")
        query: SearchQuery | None = None
        try:
            query = search.parse(request.text)
        except ValidationError as exc:
            for violation in exc.violations:
                v.add(violation.field, violation.description)
        _check_values(v, list(request.labels), "labels")
        _check_values(v, list(request.networks), "networks")
        _check_values(v, list(request.query_ids), "query_ids")
        _check_languages(v, list(request.languages))
        since = convert.from_timestamp(request.since) if request.HasField("since") else None
        until = convert.from_timestamp(request.until) if request.HasField("until") else None
        if since is not None and until is not None:
            v.require(since < until, "until", "must be after since")
        digest = _search_digest(tenant, request)
        try:
            after = _decode_position(request.page_token, digest)
        except ValidationError as exc:
            for violation in exc.violations:
                v.add(violation.field, violation.description)
        v.check()
        rows, more = await self._store.search_mentions(
            tenant,
            query=query,
            labels=list(request.labels),
            networks=list(request.networks),
            query_ids=list(request.query_ids),
            languages=list(request.languages),
            since=since,
            until=until,
            after=after,
            limit=size,
        )
        token = ""
        if more and rows:
            last = rows[-1]
            token = _encode_position(SearchPosition(convert.aware(last.published_at), last.seq), digest)
        return pb.SearchMentionsResponse(
            mentions=[convert.mention_from_row(r) for r in rows], next_page_token=token
        )
