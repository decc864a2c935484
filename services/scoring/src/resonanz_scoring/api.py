"""gRPC ``resonanz.scoring.v1.ScoringService``, composed from one handler class per concern.

* :mod:`.api_brand`: GetBrandScores, ListScoredMentions, GetBrandTimeline, GetShareOfVoice;
* :mod:`.api_authors`: ListTopAuthors;
* :mod:`.api_cascades`: GetCascade, ListCascades;
* :mod:`.api_alerts`: ListAlerts, StreamAlerts;
* :mod:`.api_campaigns`: GetCampaignReport;
* :mod:`.api_draft`: ScoreDraft.

Every call is for the tenant in its metadata and reads only that tenant's rows from the service's
database (which the streaming app keeps), so any replica answers any call. Another tenant's ids are
answered exactly like ids that do not exist (NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_sdk.manifest import Manifest
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.api_alerts import AlertHandlers
from resonanz_scoring.api_authors import AuthorHandlers
from resonanz_scoring.api_brand import BrandHandlers
from resonanz_scoring.api_campaigns import CampaignHandlers
from resonanz_scoring.api_cascades import CascadeHandlers
from resonanz_scoring.api_common import ApiDeps, LabelRoles, utc_now
from resonanz_scoring.api_draft import DraftHandlers
from resonanz_scoring.api_roles import ListeningLabelRoles
from resonanz_scoring.scorer import MentionScorer

SERVICE_NAME: str = scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name


class ScoringServicer(
    BrandHandlers,
    AuthorHandlers,
    CascadeHandlers,
    AlertHandlers,
    CampaignHandlers,
    DraftHandlers,
    scoring_service_pb2_grpc.ScoringServiceServicer,
):
    """Every ScoringService RPC. ``ScoringServicer(engine)`` answers all but ScoreDraft (which needs
    ``scorer``) and gives every label the role UNSPECIFIED (``label_roles`` resolves them)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        manifests: Callable[[], Sequence[Manifest]] = tuple,
        scorer: MentionScorer | None = None,
        label_roles: LabelRoles | None = None,
        clock: Callable[[], datetime] | None = None,
        alert_poll_seconds: float = 1.0,
    ) -> None:
        self.deps = ApiDeps(
            engine=engine,
            manifests=manifests,
            scorer=scorer,
            label_roles=label_roles,
            clock=clock or utc_now,
            alert_poll_seconds=alert_poll_seconds,
        )

    async def aclose(self) -> None:
        """Release what the servicer holds (the listening channel of the label roles)."""
        close = getattr(self.deps.label_roles, "close", None)
        if close is not None:
            await close()


def plugin_manifests(plugins: PluginManager) -> Callable[[], Sequence[Manifest]]:
    """The manifests of the networks ``plugins`` has loaded (read per call: plugins may be added)."""

    def manifests() -> Sequence[Manifest]:
        return [network.manifest for network in plugins.networks.values()]

    return manifests


def build_servicer(
    settings: Settings, engine: AsyncEngine, plugins: PluginManager, scorer: MentionScorer | None
) -> ScoringServicer:
    """The servicer as the scoring app runs it: manifests from the loaded network plugins, the
    app's sentiment scorer for ScoreDraft, label roles from the listening service."""
    listening = settings.listening_addr or f"{settings.grpc_host}:{settings.listening_port}"
    return ScoringServicer(
        engine,
        manifests=plugin_manifests(plugins),
        scorer=scorer,
        label_roles=ListeningLabelRoles(listening),
    )
