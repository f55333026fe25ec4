"""deploy/grafana/fenix.json and deploy/prometheus/alerts.yml agree with the figures Fenix exports.

Without Grafana or Prometheus: the dashboard's structure is checked as Grafana provisions it, every figure of
fenix/metrics.py must be on a panel and every `fenix_` name on a panel must exist; the rule file's structure is
checked, and with `promtool` (Debian's `prometheus` package) where it is installed, so are its expressions and its
unit tests (deploy/prometheus/alerts.test.yml).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fenix import metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "fenix.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
REQUIRED_ALERTS = {"FenixSessionStuck", "FenixHostDisabledOverPlan", "FenixWebhookDeliveryFailing"}
API_FIGURES = {"fenix_api_requests_total", "fenix_api_request_duration_seconds"}
HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")


def exported_names() -> set[str]:
    """Names as Prometheus sees them: counters get `_total`."""
    counters = {metrics.NOTICES, metrics.WEBHOOK_ATTEMPTS, metrics.REPLIES, metrics.INSTANCE_ACTIONS,
                metrics.PLUGIN_RUNS, metrics.SESSION_TRANSITIONS, metrics.SESSIONS_ENDED, metrics.CENSUS_RUNS}
    return {f"{n}_total" if n in counters else n for n in metrics.DESCRIPTIONS} | API_FIGURES


def named_in(expr: str) -> set[str]:
    names = set()
    for name in re.findall(r"\bfenix_[a-z_]+", expr):
        for part in HISTOGRAM_PARTS:
            if name.endswith(part) and name.removesuffix(part).endswith("_seconds"):
                name = name.removesuffix(part)
        names.add(name)
    return names


def panels() -> list[dict[str, Any]]:
    board = json.loads(DASHBOARD.read_text())
    return [p for p in board["panels"] if p["type"] != "row"]


def test_dashboard_is_provisionable() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36
    assert board["uid"] == "fenix" and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"panel {p['title']!r} overlaps another"
        taken |= cells
    for p in panels():
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["description"] and p["targets"], p["title"]
        assert all(t["expr"] and t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]


def test_dashboard_shows_every_figure_and_only_real_ones() -> None:
    shown = {name for p in panels() for t in p["targets"] for name in named_in(t["expr"])}
    assert shown - exported_names() == set(), "panels name figures Fenix does not export"
    assert exported_names() - shown == set(), "figures without a panel"


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_are_well_formed_and_documented() -> None:
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        assert group["name"] and group["rules"]
    found = rules()
    assert REQUIRED_ALERTS <= {r["alert"] for r in found}
    headings = {line.lstrip("#").strip().lower() for line in OPERATIONS.read_text().splitlines()
                if line.startswith("#")}
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, f"docs/operations.md has no section {rule['alert']}"
        assert named_in(rule["expr"]) <= exported_names(), rule["alert"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    for cmd in (["promtool", "check", "rules", str(RULES)], ["promtool", "test", "rules", str(RULE_TESTS)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=RULES.parent)
        assert proc.returncode == 0, proc.stdout + proc.stderr
