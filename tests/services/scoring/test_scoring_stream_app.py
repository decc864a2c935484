"""The scoring faust app's configuration: broker, group, store, timeouts, and the Kafka security
settings as faust credentials (no broker needed: faust connects only at start)."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from resonanz_scoring.streams.app import app_id, create_app, faust_credentials
from resonanz_scoring.streams.extensions import EXTENSIONS, load_extension
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.settings import Settings
from yarl import URL


def test_the_app_is_configured_for_embedding_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap="k1:9092, k2:9093",
        topic_prefix="stage.",
        consumer_group_prefix="acme",
        scoring_rebalance_timeout_seconds=7.0,
        scoring_session_timeout_seconds=8.0,
        scoring_heartbeat_seconds=0.5,
        scoring_commit_interval_seconds=2.0,
        scoring_batch_size=2000,
        scoring_producer_max_batch_bytes=1,
        data_dir=tmp_path,
    )
    app = create_app(settings)
    conf = app.conf
    assert app_id(settings) == "stage.acme.scoring"
    assert conf.id == "stage.acme.scoring"
    assert conf.broker == [URL("kafka://k1:9092"), URL("kafka://k2:9093")]
    assert str(conf.store) == "memory:"
    assert conf.web_enabled is False
    assert (conf.broker_rebalance_timeout, conf.broker_session_timeout) == (7.0, 8.0)
    assert (conf.broker_heartbeat_interval, conf.broker_commit_interval) == (0.5, 2.0)
    assert conf.broker_max_poll_records == 2000
    assert conf.producer_max_batch_size == 1
    assert conf.consumer_auto_offset_reset == "earliest"
    assert conf.topic_partitions == 3
    assert (tmp_path / "scoring-faust").is_dir()


def test_no_bootstrap_is_refused() -> None:
    with pytest.raises(ValueError, match="RESONANZ_KAFKA_BOOTSTRAP"):
        create_app(Settings(kafka_bootstrap=""))


def test_plaintext_needs_no_credentials() -> None:
    assert faust_credentials(Settings()) is None


def test_sasl_settings_become_sasl_credentials() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="scoring",
        kafka_sasl_password="s3cret",  # type: ignore[arg-type]
    )
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("scoring", "s3cret")
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert credentials.ssl_context is None


def test_tls_settings_become_ssl_credentials() -> None:
    credentials = faust_credentials(Settings(kafka_security_protocol="SSL"))
    assert isinstance(credentials, faust.SSLCredentials)
    sasl_tls = faust_credentials(
        Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="u",
            kafka_sasl_password="p",  # type: ignore[arg-type]
        )
    )
    assert isinstance(sasl_tls, faust.SASLCredentials)
    assert sasl_tls.ssl_context is not None


def test_contradicting_security_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="RESONANZ_KAFKA_SASL_USERNAME"):
        faust_credentials(Settings(kafka_sasl_username="someone"))


def test_every_listed_extension_loads() -> None:
    for spec in EXTENSIONS:
        assert callable(load_extension(spec))
    with pytest.raises(ValueError, match="module:function"):
        load_extension("resonanz_scoring.streams.engagement")
