"""The chart against the listening replicas and the scoring faust app.

* every topic the real scoring app declares (agents' topics, table changelogs, the assignor's leader
  topic) is a KafkaTopic of the chart, with the partitions faust expects and compacted changelogs; the
  app is built offline (no broker is contacted before ``start``);
* the listening pods name themselves (RESONANZ_REPLICA_ID from the pod name) and may be scaled;
* the listening and scoring settings in values reach the Settings the code reads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
from resonanz_scoring.streams.runtime import ScoringStreams
from resonanz_sdk.eventbus import Topic, dlq_name
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from test_deploy_chart import (
    CHART_DIR,
    crd_validator,
    env_of,
    of_kind,
    production_values,
    render,
    scoring_app_topics,
    sdk_topics,
    settings_of,
)

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def declared_topics(topic_prefix: str, group_prefix: str) -> dict[str, tuple[int | None, bool]]:
    """Topic name -> (partitions faust insists on or None, compacted) of the real scoring app."""
    settings = Settings(
        kafka_bootstrap="127.0.0.1:9",  # never contacted: the app is only built
        topic_prefix=topic_prefix,
        consumer_group_prefix=group_prefix,
        data_dir=Path(tempfile.mkdtemp(prefix="resonanz-deploy-")),
    )
    engine = create_async_engine("sqlite+aiosqlite://")
    unused: Any = None  # producer and scorer are only used once the app runs
    app = ScoringStreams(settings, engine, unused, unused).app
    default = app.conf.topic_partitions
    found: dict[str, tuple[int | None, bool]] = {}
    sdk_names = {f"{topic_prefix}{t}" for t in Topic}
    for agent in app.agents.values():
        for name in agent.channel.topics:
            partitions = None if name in sdk_names else agent.channel.partitions or default
            found[name] = (partitions, False)
    for table in app.tables.values():
        changelog = table.changelog_topic
        found[changelog.get_topic_name()] = (table.partitions or default, bool(changelog.compacting))
    found[f"{app.conf.id}-__assignor-__leader"] = (1, False)
    return found


@pytest.mark.parametrize(("topic_prefix", "group_prefix"), [("", "resonanz"), ("acme.", "team-a")])
def test_the_chart_creates_every_topic_the_scoring_app_declares(
    chart: helm_python.Chart, topic_prefix: str, group_prefix: str
) -> None:
    declared = declared_topics(topic_prefix, group_prefix)
    assert sum(compact for _, compact in declared.values()) == 3  # the three tables' changelogs
    values = {"kafka": {"topicPrefix": topic_prefix}, "config": {"consumerGroupPrefix": group_prefix}}
    manifests = render(chart, values)
    app_topics = scoring_app_topics(manifests)
    every = sdk_topics(manifests) | app_topics
    assert not sorted(set(declared) - set(every)), "topics of the scoring app without a KafkaTopic"
    assert set(app_topics) <= set(declared), "KafkaTopics for topics the scoring app does not use"
    for name, (partitions, compact) in declared.items():
        spec = every[name]["spec"]
        if partitions is not None:
            assert spec["partitions"] == partitions, name
        assert (spec["config"].get("cleanup.policy") == "compact") == compact, name
        assert ("retention.ms" in spec["config"]) != compact, name
    for manifest in app_topics.values():
        crd_validator(manifest["apiVersion"], manifest["kind"]).validate(manifest)
    names = [m["metadata"]["name"] for m in of_kind(manifests, "KafkaTopic")]
    assert len(names) == len(set(names))


def test_scoring_app_topics_take_replicas_retention_and_config_from_values(chart: helm_python.Chart) -> None:
    values = {
        "kafka": {
            "strimzi": {
                "scoringApp": {
                    "replicas": 2,
                    "retentionMs": 86_400_000,
                    "config": {"min.insync.replicas": 1, "cleanup.policy": "delete"},
                }
            }
        }
    }
    topics = scoring_app_topics(render(chart, values))
    assert len(topics) == 6
    changelog = topics["resonanz.scoring-scoring-crisis-changelog"]["spec"]
    assert changelog["replicas"] == 2
    # A changelog stays compacted whatever the shared config says: recovery reads the latest per key.
    assert changelog["config"] == {"cleanup.policy": "compact", "min.insync.replicas": 1}
    internal = topics["scoring.label-activity"]["spec"]
    assert internal == {
        "topicName": "scoring.label-activity",
        "partitions": 3,
        "replicas": 2,
        "config": {"retention.ms": 86_400_000, "min.insync.replicas": 1, "cleanup.policy": "delete"},
    }
    assert topics["resonanz.scoring-__assignor-__leader"]["spec"]["partitions"] == 1


def test_scoring_app_topics_can_be_left_to_faust(chart: helm_python.Chart) -> None:
    manifests = render(chart, {"kafka": {"strimzi": {"scoringApp": {"enabled": False}}}})
    assert not scoring_app_topics(manifests)
    assert set(sdk_topics(manifests)) == {n for t in Topic for n in (str(t), dlq_name(str(t)))}


def test_a_scoring_app_topic_value_of_the_wrong_type_fails_rendering(chart: helm_python.Chart) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="schema"):
        render(chart, {"kafka": {"strimzi": {"scoringApp": {"replicas": 0}}}})


# -- listening replicas ----------------------------------------------------------------------------


def test_listening_pods_name_themselves_and_only_they(chart: helm_python.Chart) -> None:
    manifests = render(chart)
    for deployment in of_kind(manifests, "Deployment"):
        env = env_of(deployment)
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "listening":
            assert env["RESONANZ_REPLICA_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
            assert deployment["spec"]["replicas"] == 2
        else:
            assert "RESONANZ_REPLICA_ID" not in env, component


def test_listening_can_autoscale(chart: helm_python.Chart) -> None:
    values = {
        "roles": {
            "listening": {
                "autoscaling": {
                    "enabled": True,
                    "minReplicas": 3,
                    "maxReplicas": 8,
                    "targetCPUUtilizationPercentage": 60,
                }
            }
        }
    }
    manifests = render(chart, values)
    (hpa,) = [
        m
        for m in of_kind(manifests, "HorizontalPodAutoscaler")
        if m["metadata"]["labels"]["app.kubernetes.io/component"] == "listening"
    ]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 8)
    deployments = of_kind(manifests, "Deployment")
    (listening,) = [d for d in deployments if d["metadata"]["name"].endswith("-listening")]
    assert "replicas" not in listening["spec"]


# -- settings ----------------------------------------------------------------------------------------


def role_settings(
    manifests: list[Manifest], component: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name in list(os.environ):
        if name.startswith("RESONANZ_"):
            monkeypatch.delenv(name)
    (deployment,) = [
        d
        for d in of_kind(manifests, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    secrets = {"url": "postgresql+asyncpg://r@db/r", "database-url": "postgresql+asyncpg://r@db/r"}
    secrets |= {"username": "r", "password": "p", "access-key-id": "a", "secret-access-key": "s"}
    settings: Settings = settings_of(deployment, manifests, tmp_path, secrets)
    return settings


def test_default_values_give_the_code_defaults(
    chart: helm_python.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(chart)
    rendered = role_settings(manifests, "listening", tmp_path / "l", monkeypatch)
    defaults = Settings()
    prefixes: tuple[str, ...] = ("lease_", "listening_page", "listening_max", "backfill_", "retention_")
    prefixes += ("engagement_",)
    prefixes += ("alert_", "scoring_batch", "scoring_rebalance", "scoring_session", "scoring_heartbeat")
    extra = {"poll_interval_seconds", "mention_retention_days", "sentiment_scorer", "sentiment_model"}
    extra |= {"scoring_commit_interval_seconds", "scoring_max_attempts", "scoring_producer_max_batch_bytes"}
    fields = [name for name in Settings.model_fields if name.startswith(prefixes) or name in extra]
    assert len(fields) >= 30
    for name in fields:
        assert getattr(rendered, name) == getattr(defaults, name), name
    assert rendered.replica_id.startswith("demo-resonanz-listening-")


def test_production_values_reach_the_settings(
    chart: helm_python.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(chart, production_values())
    listening = role_settings(manifests, "listening", tmp_path / "l", monkeypatch)
    assert (listening.lease_ttl_seconds, listening.lease_renew_seconds) == (15.0, 4.0)
    assert listening.mention_retention_days == 730
    assert listening.engagement_schedule == "600,3600,86400,604800"
    assert listening.engagement_track_mentions is False
    worker = role_settings(manifests, "scoring-worker", tmp_path / "w", monkeypatch)
    assert worker.sentiment_scorer == "lexicon-v1"
    assert worker.sentiment_model is None
    assert (
        worker.scoring_rebalance_timeout_seconds,
        worker.scoring_session_timeout_seconds,
        worker.scoring_heartbeat_seconds,
    ) == (45.0, 30.0, 3.0)
    alerts = (worker.alert_bucket_seconds, worker.alert_z_threshold, worker.alert_ewma_alpha)
    assert alerts == (300.0, 5.0, 0.05)
    assert worker.alert_min_negative == 5


@pytest.mark.parametrize(
    "overrides",
    [
        {"listening": {"pageSize": 0}},
        {"listening": {"engagement": {"schedule": "soon"}}},
        {"listening": {"engagement": {"trackMentions": "yes"}}},
        {"scoring": {"alerts": {"ewmaAlpha": 1.5}}},
        {"scoring": {"batchSeconds": 0}},
        {"scoring": {"sentimentScorer": ""}},
        {"scoring": {"unknown": 1}},
    ],
    ids=["page-size", "schedule", "track-mentions", "ewma-alpha", "batch-seconds", "scorer", "unknown-key"],
)
def test_wrong_listening_and_scoring_values_fail_rendering(
    chart: helm_python.Chart, overrides: dict[str, Any]
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="schema"):
        render(chart, {"config": overrides})


def test_a_sentiment_model_path_is_passed_on(
    chart: helm_python.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {"config": {"scoring": {"sentimentModel": "/models/linear-v2.npz"}}}
    worker = role_settings(render(chart, values), "scoring-worker", tmp_path, monkeypatch)
    assert worker.sentiment_model == Path("/models/linear-v2.npz")
