"""``resonanz-embedded``: run the whole platform in this process until Ctrl-C, then print what to try."""

from __future__ import annotations

import asyncio
import signal
import sys

from resonanz_sdk.errors import ResonanzError
from resonanz_sdk.logs import configure_logging
from resonanz_sdk.metrics import start_metrics_server
from resonanz_sdk.otel import configure_tracing
from resonanz_sdk.settings import Settings
from rich.console import Console

from resonanz_embedded.platform import EmbeddedPlatform

console = Console(stderr=True)


def next_steps(platform: EmbeddedPlatform) -> str:
    ports = platform.ports()
    host = platform.settings.grpc_host
    env = ""
    defaults = {
        "publishing": platform.settings.publishing_port,
        "listening": platform.settings.listening_port,
        "scoring": platform.settings.scoring_port,
    }
    moved = {name: port for name, port in ports.items() if defaults.get(name) != port}
    if moved:
        env = " ".join(f"RESONANZ_{name.upper()}_ADDR={host}:{port}" for name, port in sorted(moved.items()))
        env = f"export {env}\n\n"
    return (
        f"\n[bold green]Resonanz is running[/bold green] (broker {platform.kafka_bootstrap}, "
        f"gRPC {', '.join(f'{n} {host}:{p}' for n, p in sorted(ports.items()))}).\n\n"
        "In another terminal (`source .venv/bin/activate` first):\n\n"
        f"{env}"
        "  resonanz queries add brand --expression 'Resonanz OR @resonanz' --label Resonanz\n"
        "  resonanz accounts connect simulated @resonanz --credential access_token=demo\n"
        "  resonanz posts create --text 'Hallo Welt! Unser neues Produkt ist da #launch' "
        "--target simulated:@resonanz --watch\n"
        "  resonanz mentions tail --label Resonanz --limit 10\n"
        "  resonanz scores show Resonanz\n"
        "  resonanz plugins list\n\n"
        "Stop with Ctrl-C."
    )


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedPlatform(settings) as platform:
        start_metrics_server(settings.metrics_port)
        # soft_wrap: the commands stay on one line each, so they can be copied as they are.
        console.print(next_steps(platform), soft_wrap=True)
        await stop.wait()
        console.print("stopping…")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    configure_tracing(settings, "resonanz-embedded")
    try:
        asyncio.run(serve(settings))
    except ResonanzError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
