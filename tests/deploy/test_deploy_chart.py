"""The Helm chart helm/resonanz: lint, render, validate, and the contract between chart and code.

Offline and fast: Helm runs as a library (helm-python-sdk), the Kubernetes schemas come with
kubernetes-validate, and the custom resources (Strimzi KafkaTopic, Prometheus Operator ServiceMonitor
and PrometheusRule) are checked against the small JSON schemas in tests/deploy/crd_schemas, because the
CRDs' own schemas are not bundled.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from resonanz_sdk.eventbus import Topic, dlq_name
from resonanz_sdk.eventbus.security import kafka_client_options
from resonanz_sdk.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "resonanz"
HERE = Path(__file__).resolve().parent
PRODUCTION_VALUES = HERE / "values-production.yaml"
CRD_SCHEMAS = HERE / "crd_schemas"
OBSERVABILITY = ROOT / "deploy" / "observability"
#: The files the chart ships (helm/resonanz/files/), byte-identical copies of deploy/observability's.
SHIPPED_FILES = ("grafana-dashboard.json", "prometheus-rules.yaml")
KUBE_VERSION = "1.30.0"
RELEASE = "demo"
NAMESPACE = "resonanz"

Manifest = dict[str, Any]

#: The roles: component name -> (console script, gRPC port, roles variable, its value).
ROLES: dict[str, tuple[str, int, str | None, str | None]] = {
    "publishing-api": ("resonanz-publishing", 50051, "RESONANZ_PUBLISHING_ROLES", "api"),
    "publishing-dispatcher": ("resonanz-publishing", 50051, "RESONANZ_PUBLISHING_ROLES", "dispatcher"),
    "publishing-worker": ("resonanz-publishing", 50051, "RESONANZ_PUBLISHING_ROLES", "worker"),
    "listening": ("resonanz-listening", 50052, None, None),
    "scoring-api": ("resonanz-scoring", 50053, "RESONANZ_SCORING_ROLES", "api"),
    "scoring-worker": ("resonanz-scoring", 50053, "RESONANZ_SCORING_ROLES", "worker"),
}
ROLE_KEYS = {
    "publishingApi",
    "publishingDispatcher",
    "publishingWorker",
    "listening",
    "scoringApi",
    "scoringWorker",
}
API_SERVICES = {"publishing-api": 50051, "listening": 50052, "scoring-api": 50053}
CRD_KINDS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafkatopic-kafka.strimzi.io-v1beta2.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1.json",
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def production_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES.read_text(encoding="utf-8"))
    return values


def render(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    """Every manifest the chart renders with ``values``, parsed (NOTES.txt and empty documents left out)."""
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def by_component(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in of_kind(manifests, kind)}


def container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(deployment: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container(deployment).get("env", [])}


def settings_config_map(manifests: list[Manifest]) -> Manifest:
    """The ConfigMap of the RESONANZ_* settings (not the Grafana dashboard's)."""
    (cm,) = [m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"] == f"{RELEASE}-resonanz"]
    return cm


def config_map(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = settings_config_map(manifests)["data"]
    return data


@pytest.fixture(scope="module")
def default_manifests(chart: helm_python.Chart) -> list[Manifest]:
    return render(chart)


@pytest.fixture(scope="module")
def production_manifests(chart: helm_python.Chart) -> list[Manifest]:
    return render(chart, production_values())


@pytest.fixture(params=["default", "production"])
def manifests(
    request: pytest.FixtureRequest, default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> list[Manifest]:
    return default_manifests if request.param == "default" else production_manifests


# -- lint and render ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "production"])
def test_helm_lint_passes_strict(which: str) -> None:
    values = production_values() if which == "production" else None
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["total_charts_linted"] == 1
    assert not report["errors"], report["errors"]
    assert not problems, problems


def test_default_values_render_every_role_with_strimzi_topics(default_manifests: list[Manifest]) -> None:
    kinds = sorted({m["kind"] for m in default_manifests})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "KafkaTopic",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert set(by_component(default_manifests, "Deployment")) == set(ROLES)
    assert set(by_component(default_manifests, "PodDisruptionBudget")) == set(ROLES)
    assert config_map(default_manifests)["RESONANZ_KAFKA_BOOTSTRAP"] == (
        f"resonanz-kafka-bootstrap.{NAMESPACE}.svc:9092"
    )


def test_production_values_render_hpa_networkpolicy_servicemonitor_and_no_topics(
    production_manifests: list[Manifest],
) -> None:
    kinds = {m["kind"] for m in production_manifests}
    assert {"HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert "KafkaTopic" not in kinds  # external Kafka
    assert "PersistentVolumeClaim" not in kinds  # media on S3
    assert set(by_component(production_manifests, "NetworkPolicy")) == set(ROLES)
    hpas = by_component(production_manifests, "HorizontalPodAutoscaler")
    assert set(hpas) == {"publishing-api", "publishing-worker", "listening", "scoring-api", "scoring-worker"}
    deployments = by_component(production_manifests, "Deployment")
    for component, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployments[component]["metadata"]["name"],
        }
        assert "replicas" not in deployments[component]["spec"]  # the HPA owns it
    worker_metrics = {m["resource"]["name"] for m in hpas["publishing-worker"]["spec"]["metrics"]}
    assert worker_metrics == {"cpu", "memory"}


# -- schemas -----------------------------------------------------------------------------------------


def test_every_core_manifest_validates_against_kubernetes_schemas(manifests: list[Manifest]) -> None:
    core = [m for m in manifests if (m["apiVersion"], m["kind"]) not in CRD_KINDS]
    assert len(core) >= 20
    for manifest in core:
        try:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{manifest['kind']} {manifest['metadata']['name']}: {exc.message} at {list(exc.path)}"
            )


def crd_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((CRD_SCHEMAS / CRD_KINDS[(api_version, kind)]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_custom_resources_validate_against_their_crd_schemas(
    default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> None:
    custom = [
        m for m in [*default_manifests, *production_manifests] if (m["apiVersion"], m["kind"]) in CRD_KINDS
    ]
    assert {m["kind"] for m in custom} == {"KafkaTopic", "ServiceMonitor", "PrometheusRule"}
    for manifest in custom:
        crd_validator(manifest["apiVersion"], manifest["kind"]).validate(manifest)


def test_crd_schemas_can_fail() -> None:
    validator = crd_validator("kafka.strimzi.io/v1beta2", "KafkaTopic")
    topic = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "t", "labels": {"strimzi.io/cluster": "c"}},
        "spec": {"topicName": "t", "partitions": "six", "replicas": 3},
    }
    assert not validator.is_valid(topic)
    del topic["metadata"]["labels"]["strimzi.io/cluster"]  # type: ignore[index]
    topic["spec"]["partitions"] = 6  # type: ignore[index]
    assert not validator.is_valid(topic)
    rules = crd_validator("monitoring.coreos.com/v1", "PrometheusRule")
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}]}]},
    }
    assert rules.is_valid(rule)
    for broken in (
        {"alert": "A", "expr": "up == 0", "for": "five minutes"},
        {"alert": "A"},
        {"alert": "A", "record": "r", "expr": "up"},
        {"alert": "A", "expr": "up", "severity": "critical"},
    ):
        rule["spec"]["groups"][0]["rules"] = [broken]  # type: ignore[index]
        assert not rules.is_valid(rule), broken


WRONG_VALUES: dict[str, dict[str, Any]] = {
    "unknown security protocol": {"kafka": {"external": {"securityProtocol": "FOO"}}},
    "replicas as a word": {"roles": {"publishingWorker": {"replicas": "two"}}},
    "unknown SASL mechanism": {
        "kafka": {
            "external": {
                "securityProtocol": "SASL_SSL",
                "sasl": {"mechanism": "GSSAPI", "existingSecret": "kafka-user"},
            }
        }
    },
    "SASL without a password secret": {
        "kafka": {"external": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-512"}}}
    },
    "SASL without a user name": {
        "kafka": {
            "external": {
                "securityProtocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "PLAIN", "existingSecret": "kafka-user"},
            }
        }
    },
    "SASL user with PLAINTEXT": {"kafka": {"external": {"sasl": {"username": "resonanz"}}}},
    "CA secret without TLS": {
        "kafka": {"external": {"securityProtocol": "PLAINTEXT", "tls": {"caSecret": "kafka-ca"}}}
    },
    "no bootstrap without Strimzi": {"kafka": {"strimzi": {"enabled": False}}},
    "unknown top-level key": {"replicaCount": 3},
    "unknown role key": {"roles": {"scoringApi": {"replica": 3}}},
    "unknown role": {"roles": {"scheduler": {"enabled": True}}},
    "s3 without a bucket": {"media": {"store": "s3"}},
    "unknown media store": {"media": {"store": "ftp"}},
    "database url inline": {"database": {"url": "postgresql+asyncpg://u:p@db/resonanz"}},
    "empty database secret": {"database": {"existingSecret": ""}},
    "partitions as a string": {"kafka": {"strimzi": {"topics": {"partitions": "6"}}}},
    "dashboard label with a space": {"grafanaDashboard": {"enabled": True, "label": "grafana dashboard"}},
    "dashboard label value as a number": {"grafanaDashboard": {"labelValue": 1}},
    "unknown dashboard key": {"grafanaDashboard": {"folder": "Resonanz"}},
    "rule labels as a list": {"prometheusRule": {"enabled": True, "labels": ["release"]}},
    "autoscaling without a target": {
        "roles": {"scoringWorker": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}}}
    },
}


@pytest.mark.parametrize("overrides", WRONG_VALUES.values(), ids=WRONG_VALUES.keys())
def test_a_wrong_value_fails_rendering_through_the_schema(
    chart: helm_python.Chart, overrides: dict[str, Any]
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="schema"):
        chart.render(overrides, name=RELEASE, namespace=NAMESPACE)


def test_autoscaling_minimum_above_maximum_fails_rendering(chart: helm_python.Chart) -> None:
    values = {
        "roles": {"scoringWorker": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}}
    }
    with pytest.raises(helm_python.HelmRenderError, match="minReplicas"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


def test_image_tag_and_disabled_roles(chart: helm_python.Chart) -> None:
    manifests = render(
        chart,
        {
            "image": {"repository": "example.org/resonanz-plugins", "tag": "1.2.3"},
            "roles": {"listening": {"enabled": False}},
        },
    )
    deployments = by_component(manifests, "Deployment")
    assert set(deployments) == set(ROLES) - {"listening"}
    assert "listening" not in by_component(manifests, "Service")
    assert "listening" not in by_component(manifests, "PodDisruptionBudget")
    for deployment in deployments.values():
        assert container(deployment)["image"] == "example.org/resonanz-plugins:1.2.3"


def test_the_production_values_pass_the_schema(chart: helm_python.Chart) -> None:
    chart.validate_schema(chart.merge_values(production_values()))
    chart.validate_schema(chart.merge_values(None))


# -- every role ---------------------------------------------------------------------------------------


def test_every_role_has_command_ports_probes_resources_and_a_non_root_read_only_container(
    manifests: list[Manifest],
) -> None:
    deployments = by_component(manifests, "Deployment")
    assert set(deployments) == set(ROLES)
    for component, (command, port, roles_env, roles_value) in ROLES.items():
        pod = deployments[component]["spec"]["template"]["spec"]
        c = container(deployments[component])
        assert c["command"] == [command]
        assert c["image"].endswith(":0.1.0")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"grpc": port, "metrics": 9464}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["grpc"] == {"port": port}, (component, probe)
        assert c["resources"]["requests"]["cpu"]
        assert c["resources"]["requests"]["memory"]
        assert c["resources"]["limits"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == 10001
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for path in ("/tmp", "/data"):
            assert "emptyDir" in volumes[mounts[path]], (component, path)
        env = env_of(deployments[component])
        if roles_env is not None:
            assert env[roles_env]["value"] == roles_value
        assert env["RESONANZ_OTEL_SERVICE_NAME"]["value"] == f"resonanz-{component}"
        assert c["envFrom"][0]["configMapRef"]["name"] == settings_config_map(manifests)["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
    cm = config_map(manifests)
    assert cm["RESONANZ_GRPC_HOST"] == "0.0.0.0"
    assert cm["RESONANZ_DATA_DIR"] == "/data"
    assert cm["RESONANZ_METRICS_PORT"] == "9464"


def test_api_roles_have_a_grpc_service_and_every_role_a_metrics_port(manifests: list[Manifest]) -> None:
    services = by_component(manifests, "Service")
    assert set(services) == set(ROLES)
    for component, service in services.items():
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        assert ports["metrics"]["port"] == 9464
        assert ports["metrics"]["targetPort"] == "metrics"
        if component in API_SERVICES:
            assert ports["grpc"]["port"] == API_SERVICES[component]
            assert ports["grpc"]["targetPort"] == "grpc"
        else:
            assert "grpc" not in ports
            assert service["spec"]["clusterIP"] == "None"
    cm = config_map(manifests)
    for component, setting in (
        ("publishing-api", "RESONANZ_PUBLISHING_ADDR"),
        ("listening", "RESONANZ_LISTENING_ADDR"),
        ("scoring-api", "RESONANZ_SCORING_ADDR"),
    ):
        name = services[component]["metadata"]["name"]
        assert cm[setting] == f"{name}.{NAMESPACE}.svc:{API_SERVICES[component]}"


def test_service_monitor_selects_the_metrics_ports(production_manifests: list[Manifest]) -> None:
    (monitor,) = of_kind(production_manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s
        for s in of_kind(production_manifests, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert len(selected) == len(ROLES)


# -- the Grafana dashboard and the alert rules ----------------------------------------------------------


def test_the_chart_ships_byte_identical_copies_of_deploy_observability() -> None:
    files = CHART_DIR / "files"
    assert sorted(p.name for p in files.iterdir()) == sorted(SHIPPED_FILES)
    stale = [
        name for name in SHIPPED_FILES if (files / name).read_bytes() != (OBSERVABILITY / name).read_bytes()
    ]
    sources = " ".join(f"deploy/observability/{name}" for name in SHIPPED_FILES)
    assert not stale, (
        f"helm/resonanz/files/ differs from deploy/observability/ for {stale} (Helm cannot read files "
        f"outside the chart, so it ships copies); run: cp {sources} helm/resonanz/files/"
    )


def test_dashboard_and_rules_are_off_by_default(default_manifests: list[Manifest]) -> None:
    assert len(of_kind(default_manifests, "ConfigMap")) == 1
    assert not of_kind(default_manifests, "PrometheusRule")


def dashboard_config_map(manifests: list[Manifest]) -> Manifest:
    (cm,) = [m for m in of_kind(manifests, "ConfigMap") if m is not settings_config_map(manifests)]
    return cm


def test_the_dashboard_config_map_is_labelled_for_the_grafana_sidecar(
    production_manifests: list[Manifest],
) -> None:
    cm = dashboard_config_map(production_manifests)
    assert cm["metadata"]["name"] == f"{RELEASE}-resonanz-grafana-dashboard"
    assert cm["metadata"]["namespace"] == NAMESPACE
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (key,) = cm["data"]
    assert key.endswith(".json")
    text = (OBSERVABILITY / "grafana-dashboard.json").read_text(encoding="utf-8")
    assert cm["data"][key] == text.strip()  # unchanged: Helm does not template the file
    assert json.loads(cm["data"][key])["uid"] == "resonanz-overview"
    assert len(json.dumps(cm)) < 1024 * 1024  # a ConfigMap holds at most 1 MiB


def test_the_dashboard_label_namespace_and_annotations_come_from_values(chart: helm_python.Chart) -> None:
    dashboard = {
        "enabled": True,
        "label": "example.org/dashboard",
        "labelValue": "resonanz",
        "namespace": "monitoring",
        "annotations": {"grafana_folder": "Resonanz"},
    }
    cm = dashboard_config_map(render(chart, {"grafanaDashboard": dashboard}))
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["example.org/dashboard"] == "resonanz"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Resonanz"}
    kubernetes_validate.validate(cm, KUBE_VERSION, strict=True)


def test_the_prometheus_rule_carries_the_rules_file_unchanged(production_manifests: list[Manifest]) -> None:
    (rule,) = of_kind(production_manifests, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    rules_file = yaml.safe_load((OBSERVABILITY / "prometheus-rules.yaml").read_text(encoding="utf-8"))
    assert rule["spec"]["groups"] == rules_file["groups"]
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) >= 5
    # Prometheus templates reach Prometheus as written, not expanded (or emptied) by Helm
    assert "{{ $labels.service }}" in alerts[0]["annotations"]["summary"]
    for alert in alerts:
        # the rules select every namespace and keep it in each alert: several releases stay apart
        groupings = re.findall(r"\bby \(([^)]*)\)", alert["expr"])
        assert groupings, alert["alert"]
        for grouping in groupings:
            assert "namespace" in {label.strip() for label in grouping.split(",")}, alert["alert"]
        assert "namespace=" not in alert["expr"].replace(" ", ""), alert["alert"]


def test_network_policies_open_grpc_to_callers_and_metrics_to_monitoring(
    production_manifests: list[Manifest],
) -> None:
    policies = by_component(production_manifests, "NetworkPolicy")
    for component, policy in policies.items():
        rules = policy["spec"]["ingress"]
        by_port = {rule["ports"][0]["port"]: rule["from"] for rule in rules}
        assert set(by_port) == {"grpc", "metrics"}
        assert by_port["metrics"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
        callers = {"kubernetes.io/metadata.name": "marketing-apps"}
        outside = [p for p in by_port["grpc"] if p.get("namespaceSelector", {}).get("matchLabels") == callers]
        assert bool(outside) == (component in API_SERVICES), component
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        egress_cidrs = {
            peer["ipBlock"]["cidr"]
            for rule in policy["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        }
        assert {"10.20.0.0/16", "10.30.4.0/24", "0.0.0.0/0"} <= egress_cidrs


# -- Kafka ----------------------------------------------------------------------------------------------


def sdk_topics(manifests: list[Manifest]) -> dict[str, Manifest]:
    """The KafkaTopics of the sdk's topics by topic name (the scoring app's own ones left out)."""
    return {
        t["spec"]["topicName"]: t
        for t in of_kind(manifests, "KafkaTopic")
        if t["metadata"]["labels"].get("app.kubernetes.io/component") != "scoring-worker"
    }


def scoring_app_topics(manifests: list[Manifest]) -> dict[str, Manifest]:
    """The KafkaTopics of the scoring faust app's own topics by topic name."""
    return {
        t["spec"]["topicName"]: t
        for t in of_kind(manifests, "KafkaTopic")
        if t["metadata"]["labels"].get("app.kubernetes.io/component") == "scoring-worker"
    }


def test_strimzi_topics_cover_every_topic_and_its_dead_letter_topic(
    default_manifests: list[Manifest],
) -> None:
    topics = sdk_topics(default_manifests)
    assert set(topics) == {name for topic in Topic for name in (str(topic), dlq_name(str(topic)))}
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "resonanz"
        if name.endswith(".dlq"):
            assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (1, 3)
            assert topic["spec"]["config"]["retention.ms"] == 2_592_000_000
        else:
            assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (6, 3)
            assert topic["spec"]["config"]["retention.ms"] == 604_800_000
            assert topic["spec"]["config"]["min.insync.replicas"] == 2


def test_topic_prefix_partitions_retention_and_overrides_come_from_values(chart: helm_python.Chart) -> None:
    values = {
        "kafka": {
            "topicPrefix": "acme.",
            "strimzi": {
                "clusterName": "events",
                "namespace": "kafka",
                "topics": {
                    "partitions": 12,
                    "replicas": 2,
                    "retentionMs": 86_400_000,
                    "config": {"min.insync.replicas": 1},
                    "overrides": {"mentions.raw": {"partitions": 24, "config": {"cleanup.policy": "delete"}}},
                },
                "deadLetter": {
                    "partitions": 2,
                    "replicas": 2,
                    "retentionMs": -1,
                    "config": {"min.insync.replicas": None},  # null removes a default key
                },
            },
        }
    }
    manifests = render(chart, values)
    topics = sdk_topics(manifests)
    assert set(topics) == {f"acme.{n}" for t in Topic for n in (str(t), dlq_name(str(t)))}
    raw = topics["acme.mentions.raw"]
    assert raw["metadata"]["namespace"] == "kafka"
    assert raw["metadata"]["labels"]["strimzi.io/cluster"] == "events"
    assert raw["spec"]["partitions"] == 24
    assert raw["spec"]["replicas"] == 2
    assert raw["spec"]["config"] == {
        "retention.ms": 86_400_000,
        "min.insync.replicas": 1,
        "cleanup.policy": "delete",
    }
    assert topics["acme.publish.requests"]["spec"]["partitions"] == 12
    assert topics["acme.publish.requests.dlq"]["spec"] == {
        "topicName": "acme.publish.requests.dlq",
        "partitions": 2,
        "replicas": 2,
        "config": {"retention.ms": -1},
    }
    assert topics["acme.alerts.dlq"]["spec"]["replicas"] == 2
    cm = config_map(manifests)
    assert cm["RESONANZ_TOPIC_PREFIX"] == "acme."
    assert cm["RESONANZ_KAFKA_BOOTSTRAP"] == "events-kafka-bootstrap.kafka.svc:9092"
    for manifest in of_kind(manifests, "KafkaTopic"):
        crd_validator(manifest["apiVersion"], manifest["kind"]).validate(manifest)


def test_external_kafka_sasl_ssl_maps_to_settings_with_secrets_and_a_mounted_ca(
    production_manifests: list[Manifest],
) -> None:
    cm = config_map(production_manifests)
    assert cm["RESONANZ_KAFKA_BOOTSTRAP"].startswith("kafka-0.kafka.example.com:9094,")
    assert cm["RESONANZ_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert cm["RESONANZ_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "RESONANZ_KAFKA_SASL_USERNAME" not in cm  # from the secret
    assert "RESONANZ_KAFKA_SASL_PASSWORD" not in cm
    ca_file = cm["RESONANZ_KAFKA_SSL_CAFILE"]
    for deployment in of_kind(production_manifests, "Deployment"):
        env = env_of(deployment)
        assert env["RESONANZ_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "resonanz-kafka-user",
            "key": "password",
        }
        assert env["RESONANZ_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
            "name": "resonanz-kafka-user",
            "key": "username",
        }
        mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "kafka-cluster-ca"
        (item,) = volumes["kafka-ca"]["secret"]["items"]
        assert f"{mounts['kafka-ca']}/{item['path']}" == ca_file


def test_plain_username_and_mutual_tls(chart: helm_python.Chart) -> None:
    values = {
        "kafka": {
            "strimzi": {"enabled": False},
            "external": {
                "bootstrap": "kafka:9093",
                "securityProtocol": "SASL_SSL",
                "sasl": {"mechanism": "PLAIN", "username": "resonanz", "existingSecret": "kafka-pw"},
                "tls": {"clientCertSecret": "kafka-client-cert"},
            },
        }
    }
    manifests = render(chart, values)
    cm = config_map(manifests)
    assert cm["RESONANZ_KAFKA_SASL_USERNAME"] == "resonanz"
    assert "RESONANZ_KAFKA_SSL_CAFILE" not in cm
    deployment = by_component(manifests, "Deployment")["scoring-worker"]
    assert "RESONANZ_KAFKA_SASL_USERNAME" not in env_of(deployment)
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    assert cm["RESONANZ_KAFKA_SSL_CERTFILE"] == f"{mounts['kafka-client']}/tls.crt"
    assert cm["RESONANZ_KAFKA_SSL_KEYFILE"] == f"{mounts['kafka-client']}/tls.key"


# -- database, credentials, media, plugins -------------------------------------------------------------


def test_database_url_and_credential_keys_come_from_existing_secrets(manifests: list[Manifest]) -> None:
    cm = config_map(manifests)
    assert "RESONANZ_DATABASE_URL" not in cm
    assert "RESONANZ_CREDENTIAL_KEYS" not in cm
    for component, deployment in by_component(manifests, "Deployment").items():
        env = env_of(deployment)
        ref = env["RESONANZ_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] in {"resonanz-database", "resonanz-postgres"}
        assert "RESONANZ_CREDENTIAL_KEYS" not in env
        if not component.startswith("publishing-"):
            assert "RESONANZ_CREDENTIAL_KEYS_FILE" not in env
            continue
        keys_file = env["RESONANZ_CREDENTIAL_KEYS_FILE"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        (item,) = volumes["credential-keys"]["secret"]["items"]
        assert keys_file == f"{mounts['credential-keys']}/{item['path']}"
    text = json.dumps(manifests)
    assert "postgresql" not in text


def test_local_media_is_a_shared_claim_of_the_publishing_pods(default_manifests: list[Manifest]) -> None:
    (claim,) = of_kind(default_manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    cm = config_map(default_manifests)
    assert cm["RESONANZ_MEDIA_STORE"] == "local"
    for component, deployment in by_component(default_manifests, "Deployment").items():
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        if component.startswith("publishing-"):
            assert volumes["media"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
            mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
            assert mounts["media"] == cm["RESONANZ_MEDIA_DIR"]
        else:
            assert "media" not in volumes


def test_s3_media_with_secret_refs(production_manifests: list[Manifest]) -> None:
    cm = config_map(production_manifests)
    assert cm["RESONANZ_MEDIA_STORE"] == "s3"
    assert cm["RESONANZ_S3_BUCKET"] == "resonanz-media-prod"
    assert cm["RESONANZ_S3_REGION"] == "eu-central-1"
    assert "RESONANZ_MEDIA_DIR" not in cm
    env = env_of(by_component(production_manifests, "Deployment")["publishing-worker"])
    assert env["RESONANZ_S3_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "resonanz-s3"
    assert env["RESONANZ_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secret-access-key"


def test_plugins_and_extra_env(
    default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> None:
    assert "RESONANZ_PLUGINS" not in config_map(default_manifests)  # unset: every installed plugin
    assert config_map(production_manifests)["RESONANZ_PLUGINS"] == "simulated"
    deployments = by_component(production_manifests, "Deployment")
    for component, deployment in deployments.items():
        env = env_of(deployment)
        assert env["RESONANZ_SIMULATED_ACTIVITY"]["value"] == "0.5"
        assert ("RESONANZ_PUBLISH_BACKOFF_MAX_SECONDS" in env) == (component == "publishing-worker")


# -- the chart's settings exist in the code ------------------------------------------------------------


def env_names(manifests: list[Manifest]) -> set[str]:
    names = set(config_map(manifests))
    for deployment in of_kind(manifests, "Deployment"):
        names |= set(env_of(deployment))
    return names


def test_every_environment_variable_is_a_settings_field(
    default_manifests: list[Manifest], production_manifests: list[Manifest], chart: helm_python.Chart
) -> None:
    settings = {f"RESONANZ_{name.upper()}" for name in Settings.model_fields}
    mtls = copy.deepcopy(production_values())
    mtls["kafka"]["external"]["tls"]["clientCertSecret"] = "kafka-client"
    mtls["kafka"]["external"]["sasl"] = {"mechanism": "PLAIN", "username": "u", "existingSecret": "pw"}
    used = env_names(default_manifests) | env_names(production_manifests) | env_names(render(chart, mtls))
    assert len(used) >= 30
    unknown = sorted(used - settings)
    assert not unknown, f"the chart sets variables Settings does not read: {unknown}"


def settings_of(
    deployment: Manifest, manifests: list[Manifest], root: Path, secrets: dict[str, str]
) -> Settings:
    """The Settings a role's container would read: the ConfigMap, its env (secret values from ``secrets``
    by key) and its mounted secret files, written under ``root`` (a CA bundle for the Kafka CA)."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts: dict[str, Path] = {}
    for mount in container(deployment)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True)
        for item in secret["items"]:
            if mount["name"] == "kafka-ca":
                shutil.copyfile(certifi.where(), target / item["path"])
            else:
                (target / item["path"]).write_text("not a key\n", encoding="utf-8")
        mounts[mount["mountPath"]] = target
    env: dict[str, str] = dict(config_map(manifests))
    for name, var in env_of(deployment).items():
        if "value" in var:
            env[name] = var["value"]
        elif "fieldRef" in var["valueFrom"]:  # the downward API: only the pod name is used
            assert var["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name"}
            env[name] = f"{deployment['metadata']['name']}-7d9f8c6b5-x2k4q"
        else:
            env[name] = secrets[var["valueFrom"]["secretKeyRef"]["key"]]
    for name, value in env.items():
        for mount_path, target in mounts.items():
            if value.startswith(mount_path + "/"):
                env[name] = str(target / value.removeprefix(mount_path + "/"))
    return Settings(**{name.removeprefix("RESONANZ_").lower(): value for name, value in env.items()})


@pytest.mark.parametrize("which", ["default", "production"])
def test_the_rendered_kafka_settings_are_accepted_by_the_sdk(
    which: str,
    default_manifests: list[Manifest],
    production_manifests: list[Manifest],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith("RESONANZ_"):
            monkeypatch.delenv(name)  # only what the chart sets
    manifests = production_manifests if which == "production" else default_manifests
    secrets = {
        "url": "postgresql+asyncpg://resonanz@db/resonanz",
        "database-url": "postgresql+asyncpg://resonanz@db/resonanz",
        "username": "resonanz",
        "password": "secret",
        "access-key-id": "AKIA",
        "secret-access-key": "s3cret",
    }
    for index, deployment in enumerate(of_kind(manifests, "Deployment")):
        settings = settings_of(deployment, manifests, tmp_path / str(index), secrets)
        options = kafka_client_options(settings)
        if which == "default":
            assert options == {"security_protocol": "PLAINTEXT"}
            continue
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("resonanz", "secret")
        assert settings.kafka_ssl_cafile is not None
        assert settings.kafka_ssl_cafile.is_file()
        assert settings.database_url.startswith("postgresql+asyncpg://")


#: Values whose content is free-form (a Kubernetes object or a map): documented as one row.
FREE_FORM = {
    "podSecurityContext",
    "securityContext",
    "roles.<role>.resources",
    "roles.<role>.affinity",
    "kafka.strimzi.topics.overrides",
    "networkPolicy.ingress.namespaceSelector",
    "networkPolicy.ingress.podSelector",
    "networkPolicy.metrics.namespaceSelector",
}


def schema_paths(schema: dict[str, Any], node: dict[str, Any], path: str) -> Iterator[str]:
    """Every value path the schema allows, ``roles.<role>.…`` for the roles."""
    if "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    properties = node.get("properties")
    if not properties or path in FREE_FORM or node.get("additionalProperties") is not False:
        yield path
        return
    for key, child in properties.items():
        child_path = "roles.<role>" if path == "roles" else f"{path}.{key}" if path else key
        yield from schema_paths(schema, child, child_path)


def test_the_readme_documents_every_value_in_its_table(chart: helm_python.Chart) -> None:
    schema = chart.schema
    assert schema is not None
    documented = set()
    for line in (ROOT / "helm" / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            documented.add(line.split("`")[1])
    paths = set(schema_paths(schema, schema, ""))
    assert len(paths) > 90
    assert not sorted(paths - documented), "values missing from helm/README.md"
    assert not sorted(documented - paths - {"<role>", *ROLE_KEYS}), "helm/README.md documents unknown values"
