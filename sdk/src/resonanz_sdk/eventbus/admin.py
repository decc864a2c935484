"""Topic administration: create the topics a role needs, with their dead-letter topics, idempotently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus.topics import dlq_name, topic_name

__all__ = ["ensure_topics"]

_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    prefix: str = "",
    partitions: int = 3,
    replication_factor: int = 1,
    client_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create each logical topic and its DLQ under ``prefix`` unless they exist; returns the real names.

    Idempotent: existing topics are left as they are (their partition count is not changed).
    ``client_options`` are extra aiokafka client arguments, e.g. :func:`kafka_client_options`.
    """
    names: list[str] = []
    for topic in topics:
        name = topic_name(topic, prefix)
        for candidate in (name, dlq_name(name)):
            if candidate not in names:
                names.append(candidate)
    if not names:
        return names
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="resonanz-admin", **dict(client_options or {})
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(name, partitions, replication_factor) for name in missing]
            )
            failures = [
                f"{error[0]}: {error[2] or f'error code {error[1]}'}"
                for error in response.topic_errors
                if error[1] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failures:
                raise BrokerError("could not create topics: " + "; ".join(failures))
    except BrokerError:
        raise
    except Exception as exc:
        raise BrokerError(f"could not create topics on {bootstrap}: {exc}") from exc
    finally:
        await admin.close()
    return names
