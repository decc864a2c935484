"""ScoringService handler for opinion leaders: ListTopAuthors.

The window's authors of the label and their interactions (:mod:`resonanz_scoring.queries_authors`)
are ranked by :func:`resonanz_scoring.analytics.leaders.rank_authors` (followers, engagement earned
and PageRank in the interaction graph; docs/scoring/metrics.md), in a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.grpc import Validator, tenant_of

from resonanz_scoring.analytics.leaders import AuthorActivity, Interaction, RankedAuthor, rank_authors
from resonanz_scoring.api_common import ApiDeps, Context, duration_of, label_of, limit_of
from resonanz_scoring.queries_authors import (
    AuthorEdge,
    AuthorStats,
    display_names,
    window_authors,
    window_interactions,
    window_mention_edges,
)

#: ListTopAuthors: window when unset.
DEFAULT_AUTHORS_WINDOW = timedelta(days=7)


def rank(stats: list[AuthorStats], edges: list[AuthorEdge]) -> list[RankedAuthor]:
    """The window's authors ranked; ``author_id`` of the result is the ``"<network>:<id>"`` key."""
    activities = [
        AuthorActivity(
            author_id=s.key,
            handle=s.handle,
            followers=s.followers,
            verified=s.verified,
            mentions=s.mentions,
            engagement_earned=s.engagement,
            positive=s.positive,
            negative=s.negative,
            network=s.network,
        )
        for s in stats
    ]
    return rank_authors(activities, [Interaction(e.source, e.target, e.weight) for e in edges])


class AuthorHandlers:
    deps: ApiDeps

    async def ListTopAuthors(  # noqa: N802 - gRPC method name
        self, request: pb.ListTopAuthorsRequest, context: Context
    ) -> pb.ListTopAuthorsResponse:
        tenant = tenant_of(context)
        v = Validator()
        label = label_of(v, request.label)
        window = duration_of(
            v, request.window, request.HasField("window"), "window", default=DEFAULT_AUTHORS_WINDOW
        )
        limit = limit_of(v, request.limit)
        v.check()
        end = self.deps.clock()
        start = end - window
        engine = self.deps.engine
        stats = await window_authors(engine, tenant, label, start, end)
        edges = await window_interactions(engine, tenant, label, start, end)
        edges += await window_mention_edges(engine, tenant, label, start, end, authors=stats)
        everyone = await asyncio.to_thread(rank, stats, edges)
        top_centrality = max((r.centrality for r in everyone), default=0.0)
        ranked = everyone[:limit]
        by_key = {s.key: s for s in stats}
        names = await display_names(engine, tenant, [by_key[r.author_id].sample_mention_id for r in ranked])
        response = pb.ListTopAuthorsResponse(label=label)
        for r in ranked:
            s = by_key[r.author_id]
            response.authors.add(
                author_id=s.author_id,
                network=s.network,
                handle=s.handle,
                display_name=names.get(s.sample_mention_id, ""),
                followers=r.followers,
                verified=r.verified,
                mention_count=r.mentions,
                engagement_earned=r.engagement_earned,
                centrality=r.centrality / top_centrality if top_centrality > 0 else 0.0,
                score=r.score,
                rank=r.rank,
                net_sentiment=r.net_sentiment,
            )
        return response
