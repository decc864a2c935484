"""``create_app(settings)``: the scoring service's faust app, configured for embedding.

* broker: ``RESONANZ_KAFKA_BOOTSTRAP`` with the sdk's Kafka security settings mapped to faust
  credentials (TLS, SASL PLAIN/SCRAM over plaintext or TLS);
* app id (= consumer group and the prefix of changelog topics):
  ``<RESONANZ_CONSUMER_GROUP_PREFIX>.scoring``, with the topic prefix, so two deployments on one
  cluster never share a group or a changelog;
* store ``memory://``: tables live in memory and are rebuilt from their changelog topics when a
  worker starts or takes over a partition (no local state to lose or to migrate);
* no web server (health is the service's gRPC health), no signal handling, no loop ownership: the
  app runs inside the service's asyncio loop (:class:`~resonanz_scoring.streams.runtime.ScoringStreams`);
* the topics of the agents are raw bytes (``StreamContext.topic`` / ``internal_topic``): every record
  is a protobuf ``EventEnvelope`` (or an internal compact event), decoded in batches by the agents,
  never per message by faust; tables keep faust's default (JSON) keys and values in their changelogs;
* rebalance, session, heartbeat and commit intervals from ``RESONANZ_SCORING_*`` (10 s / 10 s / 1 s
  / 1 s by default: the embedded broker joins a group in about half the rebalance timeout);
* the topics faust declares itself (changelogs, internal topics) are made with
  ``RESONANZ_SCORING_TOPIC_REPLICATION_FACTOR`` replicas (1 embedded; 3 from the Helm chart).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import faust
from resonanz_sdk.eventbus import kafka_client_options
from resonanz_sdk.settings import Settings

__all__ = ["app_id", "create_app", "faust_credentials"]

#: faust, mode and aiokafka log at DEBUG unless told: their loggers are pinned to this level unless
#: the service runs at DEBUG itself (see peers/README: a default faust worker builds a record for
#: every debug call).
LIBRARY_LOG_LEVEL = logging.WARNING
_LIBRARY_LOGGERS = ("faust", "mode", "aiokafka", "kafka")

#: Partitions of the internal topics and tables (the sdk creates the public topics with 3).
PARTITIONS = 3


def app_id(settings: Settings) -> str:
    """The faust app id: the consumer group of every agent and the prefix of changelog topics."""
    return f"{settings.topic_prefix}{settings.consumer_group_prefix}.scoring"


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The sdk's Kafka security settings as faust credentials (None for PLAINTEXT)."""
    options: dict[str, Any] = kafka_client_options(settings)  # validates, raises ConfigurationError
    protocol: str = options["security_protocol"]
    context: ssl.SSLContext | None = options.get("ssl_context")
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        mechanism=options["sasl_mechanism"],
        ssl_context=context,
    )


def _pin_library_logging(settings: Settings) -> None:
    level = logging.DEBUG if settings.log_level.upper() == "DEBUG" else LIBRARY_LOG_LEVEL
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def create_app(settings: Settings, *, datadir: Path | None = None) -> faust.App:
    """A faust app for ``settings``; agents and tables are added by the stream modules."""
    if not settings.kafka_bootstrap:
        raise ValueError("the scoring app needs RESONANZ_KAFKA_BOOTSTRAP (the embedded runner sets it)")
    _pin_library_logging(settings)
    directory = datadir or settings.data_dir / "scoring-faust"
    directory.mkdir(parents=True, exist_ok=True)  # faust makes only the last level; nothing big is kept
    brokers = [
        f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",") if server.strip()
    ]
    return faust.App(
        app_id(settings),
        broker=brokers,
        broker_credentials=faust_credentials(settings),
        broker_client_id="resonanz-scoring",
        broker_rebalance_timeout=settings.scoring_rebalance_timeout_seconds,
        broker_session_timeout=settings.scoring_session_timeout_seconds,
        broker_heartbeat_interval=settings.scoring_heartbeat_seconds,
        broker_commit_interval=settings.scoring_commit_interval_seconds,
        broker_max_poll_records=max(settings.scoring_batch_size, 500),
        consumer_auto_offset_reset="earliest",
        store="memory://",
        datadir=str(directory),
        topic_partitions=PARTITIONS,
        topic_replication_factor=settings.scoring_topic_replication_factor,
        topic_allow_declare=True,
        web_enabled=False,
        autodiscover=False,
        stream_buffer_maxsize=max(4 * settings.scoring_batch_size, 4096),
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        producer_linger_ms=5,
        producer_max_batch_size=settings.scoring_producer_max_batch_bytes,
        producer_acks=-1,
        table_cleanup_interval=30.0,
        logging_config=None,
    )
