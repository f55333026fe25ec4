"""Reading docker-compose.yml as `docker compose` would, and the Settings fields the deployment files may set.

Shared by the compose, observability and Kubernetes checks in tests/deploy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from fenix.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

SETTINGS_VARIABLES = frozenset(f"FENIX_{name.upper()}" for name in Settings.model_fields)
# Settings that are fields but that no code of this branch reads yet: the observability work (the worker's metrics
# and health servers) reads them. A deployment file may set them already; every other one it sets must be read.
READ_ELSEWHERE = frozenset({"worker_metrics_port", "worker_health_port"})
# Where Settings fields are read: the packages and the worker, not the tests.
_CODE = [ROOT / name for name in ("fenix", "api", "activities", "cli", "workflows", "demo")] + [ROOT / "worker.py"]

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME:+other} ... and $NAME.
_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def load_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


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


def resolved_env(service: dict[str, Any], key: str) -> str:
    value = environment(service).get(key)
    assert isinstance(value, (str, int)), f"{key} is not set"
    return interpolate(str(value))


def settings_read_by_code() -> frozenset[str]:
    """The Settings fields some code reads: `.name` (settings.x, self.x in a property) or `"name"` (getattr)."""
    text = "\n".join(path.read_text() for folder in _CODE
                     for path in ([folder] if folder.is_file() else folder.rglob("*.py")))
    return frozenset(name for name in Settings.model_fields if re.search(rf"""[.'"]{name}\b""", text))


def unread_settings(variables: set[str]) -> list[str]:
    """Of these FENIX_* variables, the Settings fields nothing reads (setting them would do nothing)."""
    read = settings_read_by_code() | READ_ELSEWHERE
    return sorted(v for v in variables if v in SETTINGS_VARIABLES and v.removeprefix("FENIX_").lower() not in read)
