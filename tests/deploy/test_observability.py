"""The `observability` profile of docker-compose.yml: Prometheus scrapes what Fenix serves, Grafana shows it.

promtool (from Debian's prometheus package, see tools.py) checks the Prometheus config and the alert rules it
loads, as Prometheus would at start; the structure tests below run without it: the scrape targets are the ports the
api and the workers serve metrics on, every replica is found through Docker's DNS, and the files compose mounts are
the ones the configs name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fenix.settings import Settings
from tests.deploy.compose import ROOT
from tests.deploy.tools import deploy_tool, run_tool

PROFILE = "observability"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), path
    return loaded


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return _yaml(PROMETHEUS_DIR / "prometheus.yml")


def _mounts(service: dict[str, Any], compose: dict[str, Any]) -> dict[str, Path]:
    """Container path -> file in the repository, for a service's compose `configs`."""
    return {c["target"]: ROOT / compose["configs"][c["source"]]["file"] for c in service["configs"]}


def _job(prometheus: dict[str, Any], name: str) -> dict[str, Any]:
    (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == name]
    assert isinstance(job, dict)
    return job


def test_prometheus_and_grafana_run_only_in_the_profile(services: dict[str, dict[str, Any]]) -> None:
    profiled = {name for name, service in services.items() if PROFILE in service.get("profiles", [])}
    assert profiled == {"prometheus", "grafana"}
    for name in profiled:
        published = services[name]["ports"]
        assert all(str(p).startswith("127.0.0.1:") for p in published), f"{name} has no login: localhost only"


def test_promtool_accepts_the_config_and_the_rules() -> None:
    promtool = deploy_tool("promtool")
    result = run_tool(promtool, "check", "config", PROMETHEUS_DIR / "prometheus.yml")  # loads rule_files too
    assert result.returncode == 0, result.stdout + result.stderr
    rules = run_tool(promtool, "check", "rules", PROMETHEUS_DIR / "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_every_api_and_worker_replica_is_scraped(prometheus: dict[str, Any]) -> None:
    """One A record per replica: a scaled service is scraped replica by replica, without a reload."""
    expected = {"fenix-api": ("api", Settings.model_fields["api_port"].default),
                "fenix-worker": ("worker", Settings.model_fields["worker_metrics_port"].default)}
    for name, (service, port) in expected.items():
        job = _job(prometheus, name)
        assert job.get("metrics_path", "/metrics") == "/metrics"
        (sd,) = job["dns_sd_configs"]
        assert (sd["names"], sd["type"], sd["port"]) == ([service], "A", port), name


def test_compose_mounts_the_config_and_rules_prometheus_reads(
    services: dict[str, dict[str, Any]], compose: dict[str, Any], prometheus: dict[str, Any],
) -> None:
    service = services["prometheus"]
    mounts = _mounts(service, compose)
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    config_path = config_flag.split("=", 1)[1]
    assert mounts[config_path] == PROMETHEUS_DIR / "prometheus.yml"
    for rule_file in prometheus["rule_files"]:
        in_container = str(Path(config_path).parent / rule_file)  # relative to the config file, as promtool reads
        assert mounts.get(in_container) == PROMETHEUS_DIR / rule_file, rule_file
    assert mounts[str(Path(config_path).parent / "alerts.yml")] == PROMETHEUS_DIR / "alerts.yml"


def test_alert_rules_file_is_a_rule_groups_file() -> None:
    rules = _yaml(PROMETHEUS_DIR / "alerts.yml")
    assert isinstance(rules.get("groups"), list)
    for group in rules["groups"]:
        assert group["name"] and isinstance(group["rules"], list)
        for rule in group["rules"]:
            assert "expr" in rule and ("alert" in rule or "record" in rule), rule


def test_grafana_provisions_prometheus_and_the_fenix_dashboard(
    services: dict[str, dict[str, Any]], compose: dict[str, Any],
) -> None:
    mounts = _mounts(services["grafana"], compose)
    datasources = [path for target, path in mounts.items() if "/provisioning/datasources/" in target]
    (datasource,) = _yaml(datasources[0])["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"  # the compose service, on its default port
    assert datasource["isDefault"] is True and datasource["uid"] == "prometheus"

    providers = [path for target, path in mounts.items() if "/provisioning/dashboards/" in target]
    (provider,) = _yaml(providers[0])["providers"]
    folder = provider["options"]["path"]
    dashboards = {target: path for target, path in mounts.items() if target.startswith(folder + "/")}
    assert dashboards == {f"{folder}/fenix.json": GRAFANA_DIR / "fenix.json"}
    assert services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{folder}/fenix.json"


def test_fenix_dashboard_is_a_dashboard() -> None:
    dashboard = json.loads((GRAFANA_DIR / "fenix.json").read_text())
    assert isinstance(dashboard, dict) and dashboard.get("title")
    assert isinstance(dashboard.get("panels"), list) and dashboard["panels"]
