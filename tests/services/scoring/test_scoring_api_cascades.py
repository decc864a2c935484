"""GetCascade and ListCascades over real gRPC and a real database (SQLite and PostgreSQL), reading
cascade rows written with the cascades agent's ORM classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_scoring.aggregate_models import CascadeLabelRow, CascadeMemberRow, CascadeRow
from scoring_api_support import (
    META,
    NOW,
    OTHER,
    OTHER_META,
    POSITIVE,
    TENANT,
    Api,
    api,
    duration,
    mention,
    not_found,
    scored,
    violations,
)

assert api  # fixture

pytestmark = pytest.mark.integration


def cascade(
    root: str,
    *,
    members: list[str],
    size: int,
    virality: float,
    growth: float,
    last: datetime,
    labels: tuple[str, ...] = ("acme",),
    tenant: str = TENANT,
) -> list[object]:
    rows: list[object] = [
        CascadeRow(
            tenant=tenant,
            root_mention_id=root,
            network="testnet",
            size=size,
            depth=2,
            structural_virality=virality,
            growth_rate_per_hour=growth,
            estimated_reach=size * 100,
            started_at=last - timedelta(hours=3),
            last_activity_at=last,
            root_seen=True,
            root_author_handle="founder",
            root_text=f"root {root}",
            labels=sorted(labels),
            updated_at=last,
        )
    ]
    rows += [CascadeMemberRow(tenant=tenant, mention_id=m, root_mention_id=root) for m in [root, *members]]
    rows += [
        CascadeLabelRow(tenant=tenant, label=label, root_mention_id=root, last_activity_at=last)
        for label in labels
    ]
    return rows


async def test_get_cascade_of_any_member_and_of_a_lone_mention(api: Api) -> None:
    await api.add_rows(
        *cascade("testnet:r", members=["testnet:a", "testnet:b"], size=3, virality=1.33, growth=2.0, last=NOW)
    )
    for member in ("testnet:r", "testnet:b"):
        got = (await api.stub.GetCascade(pb.GetCascadeRequest(mention_id=member), metadata=META)).cascade
        assert got.root_mention_id == "testnet:r"
        assert (got.size, got.depth, got.structural_virality, got.estimated_reach) == (3, 2, 1.33, 300)
        assert got.labels == ["acme"]
        assert got.root_author_handle == "founder"
        assert got.last_activity_at.ToDatetime(tzinfo=UTC) == NOW
    await api.add(scored(mention("alone", handle="solo", text="nobody reshared me"), POSITIVE, reach=42))
    lone = (
        await api.stub.GetCascade(pb.GetCascadeRequest(mention_id="testnet:alone"), metadata=META)
    ).cascade
    assert (lone.root_mention_id, lone.size, lone.depth, lone.structural_virality) == (
        "testnet:alone",
        1,
        0,
        0.0,
    )
    assert (lone.estimated_reach, lone.root_author_handle, lone.root_text) == (
        42,
        "solo",
        "nobody reshared me",
    )
    assert lone.labels == ["acme"]


async def test_get_cascade_of_another_tenant_is_not_found(api: Api) -> None:
    await api.add_rows(*cascade("testnet:r", members=["testnet:a"], size=2, virality=1, growth=1, last=NOW))
    await api.add(scored(mention("alone")))
    for mention_id in ("testnet:r", "testnet:a", "testnet:alone", "testnet:never"):
        message = await not_found(
            api.stub.GetCascade(pb.GetCascadeRequest(mention_id=mention_id), metadata=OTHER_META)
        )
        assert mention_id in message


async def test_get_cascade_validation(api: Api) -> None:
    for bad in ("", "no-network-part", "x:" + "y" * 600):
        found = await violations(api.stub.GetCascade(pb.GetCascadeRequest(mention_id=bad), metadata=META))
        assert [v.field for v in found] == ["mention_id"]


async def test_list_cascades_orders_and_windows(api: Api) -> None:
    hour = timedelta(hours=1)
    await api.add_rows(
        *cascade("testnet:big", members=["testnet:b1"], size=50, virality=2.0, growth=1.0, last=NOW - hour),
        *cascade(
            "testnet:deep", members=["testnet:d1"], size=10, virality=6.5, growth=3.0, last=NOW - 2 * hour
        ),
        *cascade("testnet:fast", members=["testnet:f1"], size=5, virality=1.5, growth=40.0, last=NOW),
        *cascade(
            "testnet:old", members=["testnet:o1"], size=500, virality=9, growth=9, last=NOW - 30 * 24 * hour
        ),
        *cascade(
            "testnet:rival",
            members=["testnet:x1"],
            size=90,
            virality=1,
            growth=1,
            last=NOW,
            labels=("globex",),
        ),
        *cascade(
            "testnet:theirs", members=["testnet:t1"], size=99, virality=9, growth=99, last=NOW, tenant=OTHER
        ),
    )

    async def roots(
        order: pb.CascadeOrder.ValueType = pb.CASCADE_ORDER_UNSPECIFIED, **kw: object
    ) -> list[str]:
        request = pb.ListCascadesRequest(label="acme", order=order, **kw)  # type: ignore[arg-type]
        return [c.root_mention_id for c in (await api.stub.ListCascades(request, metadata=META)).cascades]

    assert await roots() == ["testnet:big", "testnet:deep", "testnet:fast"]
    assert await roots(pb.CASCADE_ORDER_SIZE, limit=1) == ["testnet:big"]
    assert await roots(pb.CASCADE_ORDER_STRUCTURAL_VIRALITY) == [
        "testnet:deep",
        "testnet:big",
        "testnet:fast",
    ]
    assert await roots(pb.CASCADE_ORDER_GROWTH_RATE) == ["testnet:fast", "testnet:deep", "testnet:big"]
    assert await roots(window=duration(days=60)) == [
        "testnet:old",
        "testnet:big",
        "testnet:deep",
        "testnet:fast",
    ]
    assert await roots(window=duration(minutes=90)) == ["testnet:big", "testnet:fast"]
    theirs = await api.stub.ListCascades(pb.ListCascadesRequest(label="acme"), metadata=OTHER_META)
    assert [c.root_mention_id for c in theirs.cascades] == ["testnet:theirs"]


async def test_list_cascades_validation(api: Api) -> None:
    found = await violations(
        api.stub.ListCascades(
            pb.ListCascadesRequest(label="", order=17, limit=201, window=duration(days=367)),  # type: ignore[arg-type]
            metadata=META,
        )
    )
    assert {v.field for v in found} == {"label", "order", "limit", "window"}
    found = await violations(
        api.stub.ListCascades(pb.ListCascadesRequest(label="a", limit=-1), metadata=META)
    )
    assert [v.field for v in found] == ["limit"]


async def test_scored_mentions_carry_their_cascade(api: Api) -> None:
    await api.add(scored(mention("r")), scored(mention("a", reshare_of="r")), scored(mention("alone")))
    await api.add_rows(*cascade("testnet:r", members=["testnet:a"], size=2, virality=1.0, growth=1, last=NOW))
    response = await api.stub.ListScoredMentions(pb.ListScoredMentionsRequest(label="acme"), metadata=META)
    figures = {m.mention.id: (m.score.cascade_size, m.score.structural_virality) for m in response.mentions}
    assert figures == {"testnet:r": (2, 1.0), "testnet:a": (2, 1.0), "testnet:alone": (0, 0.0)}
