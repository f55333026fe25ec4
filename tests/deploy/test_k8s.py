"""deploy/k8s: valid Kubernetes objects that run Fenix as the code expects.

Rendered by tests/deploy/kustomize.py (and compared with `kubectl kustomize` where kubectl exists), then validated
offline against the Kubernetes JSON schemas that the kubernetes-validate package ships, strictly (an unknown or
misplaced field fails), for the oldest and the newest Kubernetes versions we claim. Then the Fenix side: every
FENIX_* variable is a setting some code reads, the probes and the prometheus.io annotations name the ports the
processes serve, and the selectors select.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fenix.settings import Settings
from tests.deploy.compose import ROOT, SETTINGS_VARIABLES, unread_settings
from tests.deploy.kustomize import render

K8S_DIR = ROOT / "deploy" / "k8s"
# The oldest Kubernetes release still maintained upstream when this was written, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
IMAGE_UID = 10001  # the Dockerfile's fenix user


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render(K8S_DIR)


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (container,) = _one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _port(container: dict[str, Any], name_or_number: str | int) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == name_or_number]
    assert isinstance(port, int)
    return port


def _fenix_variables(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, FENIX_* name) for the ConfigMap's keys, the containers' env, and the commented examples."""
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key in obj.get("data", {}):
                yield obj["metadata"]["name"], key
        if obj["kind"] == "Deployment":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                for key in _env(container):
                    yield f"{obj['metadata']['name']}/{container['name']}", key
    for path in K8S_DIR.glob("*.yaml"):
        for key in re.findall(r"^\s*#\s*(FENIX_[A-Z0-9_]+):", path.read_text(), re.MULTILINE):
            yield f"{path.name} (commented)", key


# --- valid Kubernetes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_follow_the_kubernetes_schemas(objects: list[dict[str, Any]], version: str) -> None:
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {err.message} at {list(err.path)}")
    assert not problems, problems


def test_render_matches_kubectl_kustomize(objects: list[dict[str, Any]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the Python render is checked against the schemas only")
    result = subprocess.run([kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    def keyed(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(o["kind"], o["metadata"]["name"]): o for o in items}

    assert keyed(list(yaml.safe_load_all(result.stdout))) == keyed(objects)


def test_everything_is_in_the_fenix_namespace(objects: list[dict[str, Any]]) -> None:
    namespace = _one(objects, "Namespace", "fenix")
    assert namespace
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"fenix"}


def test_selectors_select_the_pods(objects: list[dict[str, Any]]) -> None:
    pods = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for o in objects if o["kind"] == "Deployment"}
    assert set(pods) == {"fenix-api", "fenix-worker"}
    for deployment in ("fenix-api", "fenix-worker"):
        selector = _one(objects, "Deployment", deployment)["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pods[deployment].items()
        budget = _one(objects, "PodDisruptionBudget", deployment)["spec"]["selector"]["matchLabels"]
        assert budget.items() <= pods[deployment].items()
    service = _one(objects, "Service", "fenix-api")["spec"]
    assert service["selector"].items() <= pods["fenix-api"].items()
    (port,) = service["ports"]
    assert _port(_container(objects, "fenix-api"), port["targetPort"]) == Settings.model_fields["api_port"].default


# --- runs Fenix as the code expects ------------------------------------------------------------------------


def test_fenix_variables_are_settings_the_code_reads(objects: list[dict[str, Any]]) -> None:
    used = list(_fenix_variables(objects))
    assert {key for _, key in used} >= {"FENIX_TEMPORAL_ADDRESS", "FENIX_TEMPORAL_TLS_CA_FILE"}
    unknown = sorted(f"{where}: {key}" for where, key in used
                     if key.startswith("FENIX_") and key not in SETTINGS_VARIABLES)
    assert not unknown, f"not fields of fenix.settings.Settings: {unknown}"
    assert not (unread := unread_settings({key for _, key in used})), f"read by no code: {unread}"


def test_api_serves_and_is_probed_on_its_port(objects: list[dict[str, Any]]) -> None:
    api = _container(objects, "fenix-api")
    port = Settings.model_fields["api_port"].default
    assert api["command"][:3] == ["uvicorn", "api.app:create_app", "--factory"]
    assert api["command"][api["command"].index("--port") + 1] == str(port)
    assert [_port(api, p["containerPort"]) for p in api["ports"]] == [port]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = api[probe]["httpGet"]
        assert (get["path"], _port(api, get["port"])) == (path, port), probe


def test_worker_serves_and_is_probed_on_its_ports(objects: list[dict[str, Any]]) -> None:
    worker = _container(objects, "fenix-worker")
    env = _env(worker)
    assert worker["command"] == ["fenix-worker"]
    health = int(env["FENIX_WORKER_HEALTH_PORT"])
    metrics = int(env["FENIX_WORKER_METRICS_PORT"])
    assert (metrics, health) == (Settings.model_fields["worker_metrics_port"].default,
                                 Settings.model_fields["worker_health_port"].default)
    assert {p["containerPort"] for p in worker["ports"]} == {metrics, health}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = worker[probe]["httpGet"]
        assert (get["path"], _port(worker, get["port"])) == (path, health), probe


@pytest.mark.parametrize(("deployment", "port_setting"), [("fenix-api", "api_port"),
                                                          ("fenix-worker", "worker_metrics_port")])
def test_metrics_ports_are_annotated_for_prometheus(objects: list[dict[str, Any]], deployment: str,
                                                    port_setting: str) -> None:
    annotations = _one(objects, "Deployment", deployment)["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics",
                           "prometheus.io/port": str(Settings.model_fields[port_setting].default)}
    container = _container(objects, deployment)
    assert int(annotations["prometheus.io/port"]) in {p["containerPort"] for p in container["ports"]}


def test_pods_run_as_the_image_user_and_share_the_data_volume(objects: list[dict[str, Any]]) -> None:
    assert f"--uid {IMAGE_UID}" in (ROOT / "Dockerfile").read_text()
    config = _one(objects, "ConfigMap", "fenix-config")["data"]
    claim = _one(objects, "PersistentVolumeClaim", "fenix-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "the API and workers on several nodes share /data"
    for deployment in ("fenix-api", "fenix-worker"):
        pod = _one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID == pod["securityContext"]["fsGroup"]
        (container,) = pod["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "fenix-config"}}]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts[config["FENIX_DATA_DIR"]]]["persistentVolumeClaim"]["claimName"] == "fenix-data"
        # The same webhook signing key everywhere: from the secret, never made per pod.
        assert _env(container)["FENIX_WEBHOOK_SIGNING_KEY"] == {
            "secretKeyRef": {"name": "fenix", "key": "webhook-signing-key"}}
        # The TLS files the commented settings name are where the optional secret is mounted.
        assert volumes[mounts["/etc/fenix/temporal-tls"]]["secret"] == {"secretName": "fenix-temporal-tls",
                                                                        "optional": True}


def test_api_reads_its_tokens_from_the_secret(objects: list[dict[str, Any]]) -> None:
    pod = _one(objects, "Deployment", "fenix-api")["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    tokens = _env(api)["FENIX_TOKENS_FILE"]
    mount = next(m for m in api["volumeMounts"] if tokens.startswith(m["mountPath"] + "/"))
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "fenix"
    assert {"key": "tokens.json", "path": tokens.rsplit("/", 1)[1]} in volume["secret"]["items"]
