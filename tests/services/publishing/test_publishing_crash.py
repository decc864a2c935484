"""A worker process SIGKILLed after the network took the post and before it recorded the outcome.

The network keeps its posts in the real Redis (127.0.0.1:6379), so what it accepted survives the
killed process. A fresh app in this process consumes the redelivered request (the killed consumer never
committed its offset), finds the post through ``find_published`` and records it: exactly one post on
the network, the target PUBLISHED.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from delivery_helpers import (
    Redis,
    RedisNetwork,
    insert_post,
    open_engine,
    plugins_of,
    post_of,
    targets_of,
    wait_until,
)
from pydantic import SecretStr
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.app import PublishingApp
from resonanz_publishing.credentials import CredentialCipher
from resonanz_sdk.network import AccountRef
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("crash_worker_main.py")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    try:
        conn = await Redis.connect()
    except OSError as exc:
        pytest.fail(f"the crash test needs Redis on 127.0.0.1:6379: {exc}")
    try:
        yield conn
    finally:
        await conn.close()


async def test_worker_killed_mid_publish_posts_exactly_once(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, redis: Redis, tmp_path: Path
) -> None:
    namespace = f"resonanz-test-{uuid.uuid4().hex[:10]}"
    key_ring = CredentialCipher.generate_key()
    env = {
        "RESONANZ_CREDENTIAL_KEYS": key_ring,
        **os.environ,
        "RESONANZ_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RESONANZ_DATABASE_URL": database_url,
        "RESONANZ_TOPIC_PREFIX": topic_prefix,
        "RESONANZ_CONSUMER_GROUP_PREFIX": f"{topic_prefix}resonanz",
        "RESONANZ_PLUGINS": "",
        "RESONANZ_PUBLISHING_PORT": "0",
        "RESONANZ_METRICS_PORT": "0",
        "RESONANZ_DATA_DIR": str(tmp_path),
        "RESONANZ_DISPATCH_INTERVAL_SECONDS": "0.1",
    }
    async with open_engine(database_url) as engine:
        accounts = AccountStore(engine, CredentialCipher([key_ring]))
        await accounts.connect("acme", "redisnet", "@acme", "ACME", {"token": "t"}, "alice")
        post_id = await insert_post(engine, [("redisnet", "@acme")])
        key = f"{post_id}:redisnet:@acme"

        log = (tmp_path / "worker.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), namespace, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log
        )
        try:

            async def accepted() -> bool:
                if process.returncode is not None:
                    pytest.fail(f"the worker exited with {process.returncode}; see {tmp_path / 'worker.log'}")
                return await redis.command("GET", f"{namespace}:accepted-signal") is not None

            await wait_until(
                accepted,
                seconds=60,
                what="the worker process to publish",
            )
            (target,) = await targets_of(engine, post_id)
            assert target.status == TargetStatus.TARGET_STATUS_PUBLISHING  # taken, not recorded
            assert target.attempts == 1
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            await process.wait()
            log.close()
        assert process.returncode == -signal.SIGKILL
        assert await redis.command("GET", f"{namespace}:accepted:{key}") == "1"

        settings = Settings(
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=topic_prefix,
            consumer_group_prefix=f"{topic_prefix}resonanz",
            plugins="",
            publishing_port=0,
            metrics_port=0,
            data_dir=tmp_path,
            credential_keys=SecretStr(key_ring),
            dispatch_interval_seconds=0.1,
        )
        network = RedisNetwork(namespace)
        app = PublishingApp(settings, plugins_of(network))
        await app.start()
        try:

            async def published() -> bool:
                (row,) = await targets_of(engine, post_id)
                return row.status == TargetStatus.TARGET_STATUS_PUBLISHED

            await wait_until(published, seconds=60, what="the redelivered request to be recorded")
        finally:
            await app.stop()
            await network.aclose()

        (target,) = await targets_of(engine, post_id)
        stored = await network.find_published(AccountRef("redisnet", "@acme"), key)
        await network.aclose()
        assert stored is not None
        assert target.external_id == stored.external_id
        assert target.attempts == 2
        assert await redis.command("GET", f"{namespace}:accepted:{key}") == "1"
        assert (await post_of(engine, post_id)).status == PostStatus.POST_STATUS_PUBLISHED
    await redis.command(
        "DEL", f"{namespace}:accepted-signal", f"{namespace}:accepted:{key}", f"{namespace}:post:{key}"
    )
