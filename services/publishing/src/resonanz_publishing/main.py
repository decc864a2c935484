"""``resonanz-publishing``: run the publishing service alone until SIGINT or SIGTERM.

Configuration comes from ``RESONANZ_*`` environment variables (see ``resonanz_sdk.settings``); run
standalone it needs ``RESONANZ_KAFKA_BOOTSTRAP`` (the embedded platform starts its own broker instead).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from resonanz_sdk.errors import ResonanzError
from resonanz_sdk.logs import configure_logging
from resonanz_sdk.metrics import start_metrics_server
from resonanz_sdk.otel import configure_tracing
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings

from resonanz_publishing.app import PublishingApp

log = logging.getLogger("resonanz_publishing")


async def serve(settings: Settings) -> None:
    """Start the service, wait for SIGINT/SIGTERM, stop it gracefully."""
    plugins = PluginManager.from_setting(settings.plugins)
    plugins.load_entry_points()
    log.info("network plugins: %s", ", ".join(sorted(plugins.networks)) or "none")
    start_metrics_server(settings.metrics_port)
    app = PublishingApp(settings, plugins)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    try:
        await stop.wait()
        log.info("stopping publishing service")
    finally:
        await app.stop()
        await plugins.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="resonanz-publishing",
        description="Resonanz publishing service: gRPC API, dispatcher and publish worker. "
        "Configured through RESONANZ_* environment variables.",
    )
    parser.add_argument("--port", type=int, help="gRPC port (overrides RESONANZ_PUBLISHING_PORT)")
    args = parser.parse_args(argv)
    overrides = {"publishing_port": args.port} if args.port is not None else {}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    configure_tracing(settings, "resonanz-publishing")
    if not settings.kafka_bootstrap:
        log.error("RESONANZ_KAFKA_BOOTSTRAP is required to run the publishing service on its own")
        return 2
    try:
        asyncio.run(serve(settings))
    except ResonanzError as exc:
        log.error("publishing service failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
