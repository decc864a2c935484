"""``resonanz-listening``: run the listening service alone until SIGINT or SIGTERM."""

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

from resonanz_listening.app import ListeningApp

log = logging.getLogger("resonanz_listening")


async def serve(settings: Settings) -> None:
    if not settings.kafka_bootstrap:
        raise ConfigurationError("set RESONANZ_KAFKA_BOOTSTRAP: the listening service runs against a broker")
    plugins = PluginManager.from_setting(settings.plugins)
    plugins.load_entry_points()
    start_metrics_server(settings.metrics_port)
    app = ListeningApp(settings, plugins)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    log.info(
        "listening service serving on %s:%d with networks %s",
        settings.grpc_host,
        app.grpc_port,
        ", ".join(sorted(plugins.networks)) or "none",
    )
    try:
        await stop.wait()
    finally:
        await app.stop()
        await plugins.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="resonanz-listening",
        description="Resonanz listening service. Configured by RESONANZ_* environment variables.",
    )
    parser.add_argument("--port", type=int, help="gRPC port (overrides RESONANZ_LISTENING_PORT)")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.port is not None:
        settings = settings.model_copy(update={"listening_port": args.port})
    configure_logging(settings.log_level, json=settings.log_json)
    configure_tracing(settings, "resonanz-listening")
    try:
        asyncio.run(serve(settings))
    except ConfigurationError as exc:
        raise SystemExit(f"resonanz-listening: {exc}") from None
