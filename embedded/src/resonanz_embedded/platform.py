"""Starts and stops every role of the platform in one process, in dependency order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from resonanz_listening.app import ListeningApp
from resonanz_publishing.app import PublishingApp
from resonanz_scoring.app import ScoringApp
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.eventbus import Topic, ensure_topics, kafka_client_options
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.service import ServiceApp
from resonanz_sdk.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPlatform:
    """All three services, the plugins and (when no Kafka is configured) an embedded broker.

    ``async with EmbeddedPlatform(settings) as platform:`` starts everything and stops it in reverse
    order, also when start-up fails half-way.
    """

    settings: Settings
    broker: EmbeddedBroker | None = None
    plugins: PluginManager | None = None
    apps: list[ServiceApp] = field(default_factory=list)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def kafka_bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        if not self.settings.kafka_bootstrap:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.broker = EmbeddedBroker(log_dir=self.settings.data_dir)
            await asyncio.to_thread(self.broker.start)
            self._stack.callback(self.broker.stop)
            # One record per batch from the scoring app's faust producer: Tansu reports a partition's
            # end as the base offset of its last batch + 1, which would cut table recovery short.
            self.settings = self.settings.model_copy(
                update={"kafka_bootstrap": self.broker.bootstrap, "scoring_producer_max_batch_bytes": 1}
            )
            log.info("embedded broker listening on %s", self.broker.bootstrap)
        await ensure_topics(
            self.settings.kafka_bootstrap,
            list(Topic),
            prefix=self.settings.topic_prefix,
            client_options=kafka_client_options(self.settings),
        )

        self.plugins = PluginManager.from_setting(self.settings.plugins)
        self.plugins.load_entry_points()
        self._stack.push_async_callback(self.plugins.aclose)
        log.info("network plugins: %s", ", ".join(self.plugins.networks) or "none")

        # Consumers first (scoring, listening), producers of their input last (publishing).
        for app in (
            ScoringApp(self.settings, self.plugins),
            ListeningApp(self.settings, self.plugins),
            PublishingApp(self.settings, self.plugins),
        ):
            await app.start()
            self._stack.push_async_callback(app.stop)
            self.apps.append(app)
            log.info("%s serving gRPC on %s:%d", app.name, self.settings.grpc_host, app.grpc_port)

    async def stop(self) -> None:
        await self._stack.aclose()
        self.apps.clear()

    def ports(self) -> dict[str, int]:
        return {app.name: app.grpc_port for app in self.apps}

    async def __aenter__(self) -> EmbeddedPlatform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def addresses(host: str, ports: dict[str, int]) -> Sequence[tuple[str, str]]:
    return [(name, f"{host}:{port}") for name, port in sorted(ports.items())]
