"""Page tokens: round trips, refusal of forged tokens, and paging through a real server."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.errors import FieldViolation, ValidationError
from resonanz_sdk.grpc import field_violations, page_token, tenant_metadata


@given(st.text(min_size=1))
def test_tokens_round_trip(position: str) -> None:
    token = page_token.encode(position)
    assert token
    assert token.isascii()
    assert "=" not in token
    assert page_token.decode(token, "page_token") == position


def test_empty_token_is_the_first_page() -> None:
    assert page_token.encode("") == ""
    assert page_token.decode("", "page_token") == ""


def test_tokens_are_opaque() -> None:
    assert "2024-01-01|post-17" not in page_token.encode("2024-01-01|post-17")


def _tampered() -> list[str]:
    good = page_token.encode("offset:40")
    flipped = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    return [good[:-3], flipped, "not a token!", "%%%", "AAAA", good + "x", page_token.encode("x")[:4]]


@pytest.mark.parametrize("token", _tampered())
def test_bad_tokens_are_refused_on_the_field(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        page_token.decode(token, "request.page_token")
    assert [v.field for v in info.value.violations] == ["request.page_token"]


async def test_paging_through_a_real_server(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        response = await stub.ListScoredMentions(
            scoring_service_pb2.ListScoredMentionsRequest(page_size=100, page_token=token),
            metadata=tenant_metadata("acme"),
        )
        pages += 1
        assert len(response.mentions) <= 3  # the double caps page_size at 3
        seen.extend(m.mention.id for m in response.mentions)
        token = response.next_page_token
        if not token:
            break
    assert seen == [f"acme:{n}" for n in range(7)]
    assert pages == 3


async def test_bad_token_and_size_over_grpc_are_invalid_argument(channel: grpc.aio.Channel) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListScoredMentions(
            scoring_service_pb2.ListScoredMentionsRequest(page_size=-1, page_token="forged"),
            metadata=tenant_metadata("acme"),
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(info.value)
    assert [v.field for v in violations] == ["page_size", "page_token"]
    assert violations[0] == FieldViolation("page_size", "must not be negative")
