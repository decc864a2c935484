"""ScoringService handler for draft advice: ScoreDraft.

A draft is scored like a mention (language identification and the service's loaded sentiment scorer,
in a worker thread) and advised per network from that network's manifest
(:func:`resonanz_scoring.analytics.content.advise`: length as the network counts it, hashtags,
suggestions). With an ``account``, each network's advice lists the best weekday/hour slots to post
from the account's own published posts (:func:`~resonanz_scoring.analytics.content.best_times` over
the history the campaigns agent keeps).
"""

from __future__ import annotations

import asyncio
import re

from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.errors import FailedPreconditionError
from resonanz_sdk.grpc import Validator, tenant_of
from resonanz_sdk.manifest import Feature, Manifest

from resonanz_scoring.aggregate_queries import best_time_history
from resonanz_scoring.analytics.content import advise, best_times
from resonanz_scoring.api_common import ApiDeps, Context
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.sentiment import SentimentResult

#: Longest draft accepted (longer than any network's limit, so "too long by N" can still be said).
MAX_DRAFT_LENGTH = 100_000
#: Longest account handle.
MAX_ACCOUNT_LENGTH = 300
#: Best-time slots per network.
BEST_TIMES = 3
_LANGUAGE = re.compile(r"[a-z]{2}")


def can_publish(manifest: Manifest) -> bool:
    return manifest.supports(Feature.PUBLISH) or manifest.supports(Feature.ASSISTED_PUBLISH)


def score_text(scorer: MentionScorer, text: str, hint: str) -> tuple[str, SentimentResult]:
    """Language and sentiment of one text, the way mentions are scored (blocking: run in a thread)."""
    [(language, _)] = scorer.languages.identify_batch([text], [hint])
    [sentiment] = scorer.sentiment.score_batch([text], [language])
    return language, sentiment


class DraftHandlers:
    deps: ApiDeps

    async def ScoreDraft(  # noqa: N802 - gRPC method name
        self, request: pb.ScoreDraftRequest, context: Context
    ) -> pb.ScoreDraftResponse:
        tenant = tenant_of(context)
        manifests = {m.network: m for m in self.deps.manifests()}
        v = Validator()
        if v.non_empty(request.text, "text"):
            v.max_length(request.text, MAX_DRAFT_LENGTH, "text")
        wanted: list[Manifest] = []
        for i, name in enumerate(request.networks):
            manifest = manifests.get(name.strip())
            if manifest is None:
                known = ", ".join(sorted(manifests)) or "none loaded"
                v.add(f"networks[{i}]", f"unknown network {name!r} (loaded: {known})")
            elif manifest not in wanted:
                wanted.append(manifest)
        account = request.account.strip()
        v.max_length(account, MAX_ACCOUNT_LENGTH, "account")
        hint = request.language.strip().lower()
        v.require(
            not hint or bool(_LANGUAGE.fullmatch(hint)),
            "language",
            "must be an ISO 639-1 code such as 'de' or 'en', or empty to detect",
        )
        v.check()
        if not request.networks:
            wanted = sorted((m for m in manifests.values() if can_publish(m)), key=lambda m: m.network)
        scorer = self.deps.scorer
        if scorer is None:
            raise FailedPreconditionError(
                "this scoring process has no sentiment scorer loaded (run it with the worker role)"
            )
        language, sentiment = await asyncio.to_thread(score_text, scorer, request.text, hint)
        response = pb.ScoreDraftResponse(
            language=language,
            sentiment=int(sentiment.sentiment),  # type: ignore[arg-type]
            sentiment_confidence=sentiment.confidence,
            polarity=sentiment.polarity,
        )
        for manifest in wanted:
            data = advise(request.text, manifest, language)
            advice = response.advice.add(
                network=manifest.network,
                length=data.length,
                max_length=data.max_length,
                fits=data.fits,
                hashtag_count=data.hashtag_count,
                recommended_max_hashtags=data.recommended_max_hashtags,
                suggestions=list(data.suggestions),
            )
            if account:
                history = await best_time_history(self.deps.engine, tenant, manifest.network, account)
                for slot in best_times(history, top=BEST_TIMES):
                    advice.best_times.add(
                        weekday=slot.weekday,
                        hour=slot.hour,
                        mean_engagement=slot.mean_engagement,
                        posts=slot.posts,
                    )
        return response
