"""deploy/prometheus/ and deploy/grafana/: promtool checks and unit-tests the alerting rules, and
every metric the rules and the dashboard's queries name exists in the app's /metrics (except
dcgm-exporter's own, named here)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "greenai-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "greenai-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "greenai-footprint.json"
PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
)
# dcgm-exporter's metrics the dashboard shows beside GreenAI's: not the app's to expose.
DCGM_METRICS = {"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL"}
TOKEN = "metrics-token-for-the-names-test-0123"

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    # aggregation operators, which may take their label list before their argument
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (recording rules' names included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, subqueries
    # Label lists of aggregations and vector matching.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r" \1 ", text)
    text = re.sub(r"\$\w+", " ", text)  # Grafana variables
    text = re.sub(r"\b\d+(\.\d+)?(ms|[smhdwy])?\b", " ", text)  # numbers, durations
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or an operator
        names.add(word)
    return names


def test_metric_names_are_found_in_promql():
    assert metric_names(
        'sum by (le) (rate(a_bucket{x="b c"}[5m])) / on(team) group_left() b:rec'
        " + max without (x) (e)"
        " or histogram_quantile(0.9, c) > bool 3 and time() - d offset 5m"
    ) == {"a_bucket", "b:rec", "c", "d", "e"}


def app_metric_names(client, settings) -> set[str]:
    """Every sample name /metrics can show: those of each family, samples or not yet."""
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.content.decode()):
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count", ""),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def rule_expressions() -> tuple[list[str], set[str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return [rule["expr"] for rule in rules], {rule["record"] for rule in rules if "record" in rule}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            expressions.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query))
    return expressions


def test_every_metric_the_dashboard_and_the_rules_name_exists_in_metrics(db, client, settings):
    exposed = app_metric_names(client, settings)
    assert "greenai_footprint_energy_kwh" in exposed

    dashboard_names = set().union(*map(metric_names, dashboard_expressions()))
    assert DCGM_METRICS <= dashboard_names, "the dashboard shows dcgm-exporter's panels"
    assert {"greenai_footprint_energy_kwh", "greenai_footprint_carbon_kgco2e"} <= dashboard_names
    assert sorted(dashboard_names - DCGM_METRICS - exposed) == []

    expressions, recorded = rule_expressions()
    rule_names = set().union(*map(metric_names, expressions))
    assert sorted(rule_names - recorded - exposed) == []


def test_dashboard_panels_have_unique_ids_and_the_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: Debian package `prometheus`")
def test_promtool_checks_the_rules_and_their_unit_tests_pass():
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
