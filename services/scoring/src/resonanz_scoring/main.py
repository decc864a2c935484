"""``resonanz-scoring``: run the scoring role alone until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.logs import configure_logging
from resonanz_sdk.metrics import start_metrics_server
from resonanz_sdk.otel import configure_tracing
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings

from resonanz_scoring.app import ScoringApp

log = logging.getLogger("resonanz_scoring")


async def serve(settings: Settings) -> None:
    if not settings.kafka_bootstrap:
        raise ConfigurationError("RESONANZ_KAFKA_BOOTSTRAP must be set to run the scoring service alone")
    plugins = PluginManager.from_setting(settings.plugins)
    plugins.load_entry_points()
    app = ScoringApp(settings, plugins)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    start_metrics_server(settings.metrics_port)
    await app.start()
    log.info("scoring serving gRPC on %s:%d", settings.grpc_host, app.grpc_port)
    try:
        await stop.wait()
    finally:
        log.info("scoring stopping")
        await app.stop()
        await plugins.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="resonanz-scoring",
        description="Resonanz scoring service. Configured by RESONANZ_* environment variables.",
    )
    parser.add_argument("--log-level", default=None, help="overrides RESONANZ_LOG_LEVEL")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(args.log_level or settings.log_level, settings.log_json)
    configure_tracing(settings, "resonanz-scoring")
    try:
        asyncio.run(serve(settings))
    except ConfigurationError as exc:
        parser.exit(2, f"resonanz-scoring: {exc}\n")
