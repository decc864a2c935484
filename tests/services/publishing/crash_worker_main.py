"""A publishing app in its own process, for the crash test: ``python crash_worker_main.py NAMESPACE``.

Settings come from the ``RESONANZ_*`` environment. Its only network is a :class:`RedisNetwork` that
hangs once it has stored a post (and set ``<NAMESPACE>:accepted-signal`` in Redis), so the test can
SIGKILL this process after the network took the post and before the worker recorded it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from delivery_helpers import RedisNetwork, plugins_of
from resonanz_publishing.app import PublishingApp
from resonanz_sdk.settings import Settings


async def main(namespace: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    app = PublishingApp(Settings(), plugins_of(RedisNetwork(namespace, hang_after_accept=True)))
    await app.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
