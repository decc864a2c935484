"""The Grafana dashboard and the Prometheus alert rules in ``deploy/observability/`` use only metrics the code
exports, and are well-formed.

Every PromQL expression (dashboard targets and template variable queries, alert rule ``expr``) is
tokenised here: string literals, label matchers ``{...}`` and ranges ``[...]`` are cut out, label lists
after ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` skipped, functions and
aggregations (an identifier followed by ``(``, or a known aggregation) and keywords dropped; what is left
are metric names. Each must be a series name the default prometheus_client registry exports once every
module defining metrics is imported: a counter ``x`` exports ``x_total`` and ``x_created``, a histogram
``x_bucket``, ``x_count``, ``x_sum`` and ``x_created``, a gauge ``x`` (so a ``_total`` name must be a counter
and a ``_bucket`` one a histogram, and a counter named without ``_total`` is not found).

There is no ``promtool`` here (nothing may be downloaded at test time), so the rules file gets a
structural check instead of ``promtool check rules``: groups with unique names, rules with ``alert`` and
``expr``, valid ``for`` durations, balanced brackets, severity, summary and description on every alert.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from resonanz_scoring.streams.app import app_id
from resonanz_sdk.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
SEVERITIES = {"critical", "warning", "info"}

_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<matchers>\{[^}]*\})
      |(?P<range>\[[^\]]*\])
      |(?P<duration>(?:\d+(?:ms|[smhdwy]))+)(?![A-Za-z0-9_])
      |(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
      |(?P<variable>\$\{?[A-Za-z0-9_]+\}?)
      |(?P<space>\s+)
      |(?P<other>.)""",
    re.VERBOSE,
)
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*"([^"]+)\"""")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def metric_names(expr: str) -> set[str]:
    """The metric (series) names a PromQL expression selects."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    names: set[str] = set()
    skip_list = False
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "matchers":
            names.update(_NAME_MATCHER.findall(text))
            continue
        if skip_list:
            if text == ")":
                skip_list = False
            continue
        if kind != "name":
            continue
        if text in _LABEL_LISTS:
            skip_list = following == "("
            continue
        if following == "(" or text in _AGGREGATIONS or text in _KEYWORDS or text in {"inf", "nan"}:
            continue
        names.add(text)
    return names


def _import_metric_modules() -> list[str]:
    """Import every source module that defines Prometheus metrics (they register on import)."""
    imported = []
    for src in [ROOT / "sdk" / "src", *sorted((ROOT / "services").glob("*/src"))]:
        for path in sorted(src.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "prometheus_client" in text and re.search(r"\b(Counter|Gauge|Histogram|Summary)\(", text):
                module = ".".join(path.relative_to(src).with_suffix("").parts)
                importlib.import_module(module)
                imported.append(module)
    return imported


def exported_series() -> dict[str, str]:
    """Every series name the registry exports (or will, once a labelled child exists) -> metric type."""
    _import_metric_modules()
    series: dict[str, str] = {}
    for family in REGISTRY.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"),
            "gauge": ("",),
        }.get(family.type, ("",))
        for suffix in suffixes:
            series[family.name + suffix] = family.type
        for sample in family.samples:
            series.setdefault(sample.name, family.type)
    return series


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return data


def _all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    dashboard = _dashboard()
    for panel in _all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['id']} {panel.get('title', '')!r}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text.strip())
            found.append((f"variable {variable['name']}", inner.group(1) if inner else text))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in _rules()["groups"]
        for rule in group["rules"]
    ]


# -- the extractor itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum by (service, method) (rate(resonanz_rpc_requests_total{code!="OK"}[5m]))',
            {"resonanz_rpc_requests_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) "
            '(rate(resonanz_rpc_latency_seconds_bucket{job=~"$job"}[$__rate_interval])))',
            {"resonanz_rpc_latency_seconds_bucket"},
        ),
        ("a_total / on (x) group_left (y) b > 0 unless c offset 5m", {"a_total", "b", "c"}),
        ('{__name__="resonanz_consumer_lag", group="g"} > bool 3', {"resonanz_consumer_lag"}),
        ("sum without (pod) (increase(x_count[1h])) and topk(3, y)", {"x_count", "y"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_the_exported_series_follow_the_suffix_rules() -> None:
    series = exported_series()
    assert series["resonanz_rpc_requests_total"] == "counter"
    assert series["resonanz_rpc_latency_seconds_bucket"] == "histogram"
    assert series["resonanz_consumer_lag"] == "gauge"
    assert series["resonanz_dead_letters_total"] == "counter"
    # Names that would look plausible in a dashboard but are not exported:
    assert "resonanz_rpc_requests" not in series  # a counter is scraped with _total
    assert "resonanz_consumer_lag_total" not in series
    assert "resonanz_scoring_latency_seconds" not in series  # a histogram: _bucket, _sum, _count


def test_every_resonanz_metric_is_named_by_convention() -> None:
    exported_series()
    for family in REGISTRY.collect():
        if not family.name.startswith("resonanz_"):
            continue
        assert re.fullmatch(r"resonanz_[a-z][a-z0-9_]*", family.name), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), f"{family.name}: durations in base units (seconds)"
        if family.type in {"gauge", "counter"}:
            assert not family.name.endswith(("_total", "_milliseconds", "_ms")), family.name


# -- the dashboard and the rules only use exported metrics ---------------------------------------


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_metric_used_is_exported_by_the_code(source: str) -> None:
    series = exported_series()
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    assert expressions
    used: set[str] = set()
    for where, expr in expressions:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names:
            assert name.startswith("resonanz_"), f"{where}: {name} is not a Resonanz metric"
            assert name in series, f"{where}: {name} is not exported by the code"
        used |= names
    if source == "dashboard":
        # What the issue asks the dashboard to show.
        for name in (
            "resonanz_rpc_requests_total",
            "resonanz_rpc_latency_seconds_bucket",
            "resonanz_consumer_lag",
            "resonanz_publish_outcomes_total",
            "resonanz_dead_letters_total",
            "resonanz_mentions_collected_total",
            "resonanz_mentions_produced_total",
            "resonanz_scoring_latency_seconds_bucket",
        ):
            assert name in used, f"the dashboard does not show {name}"


def _call_arguments(expr: str, function: str) -> Iterator[str]:
    """The argument text of every call of ``function`` in ``expr``."""
    for match in re.finditer(rf"\b{function}\s*\(", expr):
        depth, start = 1, match.end()
        for index in range(start, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[index], 0)
            if depth == 0:
                yield expr[start:index]
                break


def test_histogram_quantile_reads_buckets() -> None:
    calls = 0
    for where, expr in dashboard_expressions() + rule_expressions():
        for arguments in _call_arguments(expr, "histogram_quantile"):
            calls += 1
            names = metric_names(arguments)
            assert names, where
            assert all(name.endswith("_bucket") for name in names), where
    assert calls


# -- the dashboard is a valid Grafana dashboard ----------------------------------------------------


def test_the_dashboard_is_valid_with_unique_panel_ids() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = list(_all_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "job"} <= set(variables)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert 'namespace=~"$namespace"' in target["expr"], f"{panel['title']}: not filtered by namespace"
            assert 'job=~"$job"' in target["expr"], f"{panel['title']}: not filtered by job"
            assert _balanced(target["expr"]), target["expr"]


# -- the alert rules -----------------------------------------------------------------------------


def _balanced(expr: str) -> bool:
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    depth: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in stripped:
        if char in "([{":
            depth.append(char)
        elif char in pairs and (not depth or depth.pop() != pairs[char]):
            return False
    return not depth


def test_the_rules_file_is_structurally_valid() -> None:
    rules = _rules()
    assert set(rules) == {"groups"}
    group_names = [group["name"] for group in rules["groups"]]
    assert len(group_names) == len(set(group_names))
    alerts: list[str] = []
    for group in rules["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}, group["name"]
        assert group["rules"], group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert ("alert" in rule) != ("record" in rule), rule
            assert isinstance(rule["expr"], str)
            assert rule["expr"].strip()
            assert _balanced(rule["expr"]), rule["expr"]
            if "for" in rule:
                assert _DURATION.match(rule["for"]), rule["for"]
            for key in ("labels", "annotations"):
                assert all(isinstance(v, str) for v in rule.get(key, {}).values()), rule
            if "alert" in rule:
                alerts.append(rule["alert"])
                assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", rule["alert"])
    assert len(alerts) == len(set(alerts)), "alert names must be unique"


def test_every_alert_has_severity_summary_and_description() -> None:
    for group in _rules()["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
            assert rule["annotations"]["summary"].strip(), rule["alert"]
            assert rule["annotations"]["description"].strip(), rule["alert"]


def test_the_alerts_cover_what_the_issue_asks() -> None:
    used = {name for _, expr in rule_expressions() for name in metric_names(expr)}
    for name in (
        "resonanz_rpc_requests_total",
        "resonanz_rpc_latency_seconds_bucket",
        "resonanz_consumer_lag",
        "resonanz_dead_letters_total",
        "resonanz_publish_outcomes_total",
        "resonanz_mentions_collected_total",
        "resonanz_scoring_latency_seconds_bucket",
    ):
        assert name in used, f"no alert on {name}"


# -- listening replicas and the scoring app ----------------------------------------------------------

_GROUP_MATCHER = re.compile(r'group\s*=~\s*"((?:[^"\\]|\\.)*)"')


def _promql_string(literal: str) -> str:
    """The value of a double-quoted PromQL string's content (Go escapes: ``\\\\`` and ``\\"``)."""
    return re.sub(r"\\(.)", r"\1", literal)


def test_the_dashboard_shows_the_listening_and_scoring_metrics() -> None:
    used = {name for _, expr in dashboard_expressions() for name in metric_names(expr)}
    for name in (
        "resonanz_engagement_refreshes_total",
        "resonanz_mentions_pruned_total",
        "resonanz_mentions_scored_total",
        "resonanz_events_consumed_total",
        "resonanz_collection_leases_held",
        "resonanz_collection_leases_expired_total",
        "resonanz_collection_errors_total",
        "resonanz_collection_backed_off",
        "resonanz_collection_rounds_total",
        "resonanz_backfill_jobs",
        "resonanz_backfill_mentions_total",
        "resonanz_alerts_raised_total",
        "resonanz_sentiment_scorer_info",
    ):
        assert name in used, f"the dashboard does not show {name}"
    per_pod = [e for _, e in dashboard_expressions() if "by (pod)" in e]
    assert any("resonanz_mentions_collected_total" in e for e in per_pod)  # the replicas' share
    assert any("resonanz_mentions_scored_total" in e for e in per_pod)


def test_the_rules_cover_stalled_collection_and_a_stuck_scoring_app_but_not_crisis_alerts() -> None:
    rules = {r["alert"]: r for group in _rules()["groups"] for r in group["rules"] if "alert" in r}
    for name in (
        "ResonanzCollectionStalled",
        "ResonanzCollectionBackedOff",
        "ResonanzCollectionFailover",
        "ResonanzEngagementRefreshesFailing",
        "ResonanzSentimentScorersDiffer",
        "ResonanzScoringStalled",
        "ResonanzScoringFallingBehind",
    ):
        assert name in rules, name
    collection = metric_names(rules["ResonanzCollectionStalled"]["expr"])
    assert collection == {"resonanz_collection_leases_held", "resonanz_collection_rounds_total"}
    engagement = metric_names(rules["ResonanzEngagementRefreshesFailing"]["expr"])
    assert "resonanz_engagement_refreshes_total" in engagement
    stalled = rules["ResonanzScoringStalled"]
    assert stalled["labels"]["severity"] == "critical"
    assert _GROUP_MATCHER.search(stalled["expr"]), "the stuck-app rule must look at the scoring app's group"
    # Crisis alerts are a product feature: no operational alert fires on them.
    raised = [name for name, rule in rules.items() if "resonanz_alerts_raised_total" in rule["expr"]]
    assert not raised
    assert not [name for name, rule in rules.items() if '"alerts"' in rule["expr"]]


@pytest.mark.parametrize(("topic_prefix", "group_prefix"), [("", "resonanz"), ("acme.", "team-a")])
def test_group_matchers_select_the_scoring_app_group_only(topic_prefix: str, group_prefix: str) -> None:
    settings = Settings(topic_prefix=topic_prefix, consumer_group_prefix=group_prefix)
    others = [f"{group_prefix}.listening.engagement", f"{group_prefix}.publishing.worker"]
    matchers = [
        (where, _promql_string(m.group(1)))
        for where, expr in dashboard_expressions() + rule_expressions()
        for m in _GROUP_MATCHER.finditer(expr)
    ]
    assert len(matchers) >= 2
    for where, pattern in matchers:
        assert re.fullmatch(pattern, app_id(settings)), f"{where}: {pattern!r} misses {app_id(settings)!r}"
        for other in others:
            assert not re.fullmatch(pattern, other), f"{where}: {pattern!r} selects {other!r}"


def _exported_labels() -> dict[str, tuple[str, ...]]:
    """Every Resonanz metric family -> its label names (read from the registered collectors)."""
    _import_metric_modules()
    labels: dict[str, tuple[str, ...]] = {}
    for collector in list(REGISTRY._collector_to_names):  # no public way to list the collectors
        name = str(getattr(collector, "_name", ""))
        if name.startswith("resonanz_"):
            labels[name] = tuple(getattr(collector, "_labelnames", ()))
    return labels


def test_the_docs_list_every_metric_with_its_labels() -> None:
    rows: dict[str, tuple[str, ...]] = {}
    for line in (ROOT / "docs" / "observability.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`resonanz_\w+`", cells[0]):
            rows[cells[0].strip("`")] = tuple(re.findall(r"`(\w+)`", cells[2]))
    exported = _exported_labels()
    assert len(exported) >= 13
    for family, labels in exported.items():
        kind = exported_series().get(family + "_total") or exported_series().get(family)
        documented = f"{family}_total" if kind == "counter" else family
        assert documented in rows, f"docs/observability.md does not list {documented}"
        message = f"{documented}: documented {rows[documented]}, exported {labels}"
        assert set(rows[documented]) == set(labels), message


def test_the_docs_list_every_alert_rule() -> None:
    text = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(Resonanz\w+)` \|", text, re.M))
    rules = {rule["alert"] for group in _rules()["groups"] for rule in group["rules"] if "alert" in rule}
    assert documented == rules
