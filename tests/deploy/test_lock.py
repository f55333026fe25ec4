"""requirements.lock pins what pyproject.toml asks for, so it cannot go stale without a failing test.

The lock is `uv pip compile --universal` output (`make lock`): one `name==version [; marker]` line per package, each
followed by `# via` lines naming what needs it; pyproject's own dependencies say `fenix (pyproject.toml)`. Checked
here without a network: every dependency of pyproject (runtime and the test extra) is pinned at a version its range
admits, nothing is pinned as a direct dependency that pyproject no longer has, and the image and `make` install
through the lock.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DIRECT = "fenix (pyproject.toml)"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)\s*(?:;\s*(?P<marker>.+))?$")
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?(?P<who>\S.*)$")


@dataclass
class Pin:
    name: str  # canonical
    version: Version
    marker: Marker | None
    via: list[str]


def read_lock(text: str) -> list[Pin]:
    pins: list[Pin] = []
    for line in text.splitlines():
        if match := _PIN.match(line):
            marker = Marker(match["marker"]) if match["marker"] else None
            pins.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker, []))
        elif line.lstrip().startswith("#"):
            if pins and (via := _VIA.match(line)) and via["who"] != "via":  # "# via" alone opens a list
                pins[-1].via.append(via["who"])
        elif line.strip():
            raise AssertionError(f"not a line `uv pip compile` writes: {line!r}")
    return pins


def pyproject_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [Requirement(r) for r in (*project["dependencies"], *project["optional-dependencies"]["test"])]


@pytest.fixture(scope="module")
def pins() -> list[Pin]:
    found = read_lock(LOCK.read_text())
    assert found, "requirements.lock pins nothing"
    return found


def test_every_pyproject_dependency_is_pinned_within_its_range(pins: list[Pin]) -> None:
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    problems = []
    for req in pyproject_requirements():
        locked = by_name.get(canonicalize_name(req.name), [])
        if not locked:
            problems.append(f"{req}: not in the lock")
        # prereleases=True: opentelemetry's instrumentations only publish betas (0.48b0 ...).
        elif not any(req.specifier.contains(pin.version, prereleases=True) for pin in locked):
            problems.append(f"{req}: locked at {', '.join(str(p.version) for p in locked)}")
    assert not problems, f"requirements.lock is stale, run `make lock`: {problems}"


def test_lock_has_no_direct_dependency_that_pyproject_dropped(pins: list[Pin]) -> None:
    declared = {canonicalize_name(req.name) for req in pyproject_requirements()}
    direct = {pin.name for pin in pins if DIRECT in pin.via}
    assert direct == declared, (
        f"requirements.lock is stale, run `make lock`: only in the lock {sorted(direct - declared)}, "
        f"only in pyproject {sorted(declared - direct)}")


def test_lock_is_universal_and_includes_the_test_extra() -> None:
    header = LOCK.read_text().splitlines()[1]
    assert header.lstrip("# ").startswith("uv pip compile pyproject.toml"), header
    makefile = (ROOT / "Makefile").read_text()
    python = re.search(r"^LOCK_PYTHON := (\S+)$", makefile, re.MULTILINE)
    assert python, "Makefile: LOCK_PYTHON"
    for flag in ("--universal", "--extra test", f"--python-version {python[1]}"):
        assert flag in header, f"made without {flag}: use `make lock`"
    # The oldest Python pyproject allows is the one the lock is resolved for; newer ones follow from --universal.
    assert PYPROJECT["project"]["requires-python"] == f">={python[1]}"


def test_makefile_and_dockerfile_install_through_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    stamp_rule = makefile[makefile.index("$(STAMP):"):].split("\n\n", 1)[0]
    assert "$(LOCK)" in stamp_rule.splitlines()[0], "the venv must be rebuilt when the lock changes"
    assert "pip install -q -c $(LOCK) -e '.[test]'" in stamp_rule
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml requirements.lock ./" in dockerfile
    assert "'-c', 'requirements.lock'" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile, "the last install must add nothing unpinned"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not any(LOCK.name.startswith(pattern.rstrip("*")) for pattern in ignored if pattern), ignored


def test_installed_packages_are_the_locked_versions(pins: list[Pin]) -> None:
    """`make test` runs on exactly the locked versions (the STAMP rule installs through the lock).

    A venv made by hand (`pip install -e '.[test]'`) may differ: then this skips, unless FENIX_REQUIRE_LOCKED is
    set, as `make test` does, so that CI cannot pass on other versions than the image gets."""
    drift = []
    for pin in pins:
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = Version(metadata.version(pin.name))
        except metadata.PackageNotFoundError:
            drift.append(f"{pin.name}: not installed, locked {pin.version}")
            continue
        if installed != pin.version:
            drift.append(f"{pin.name}: {installed} installed, locked {pin.version}")
    if drift and not os.environ.get("FENIX_REQUIRE_LOCKED"):
        pytest.skip(f"this venv is not the locked one (rebuild it with `make clean test`): {drift[:5]}")
    assert not drift, drift


def test_read_lock_parses_markers_and_via() -> None:
    pins = read_lock("# header\ncffi==2.1.1 ; platform_python_implementation != 'PyPy'\n    # via cryptography\n"
                     "fastapi==0.1\n    # via\n    #   fenix (pyproject.toml)\n    #   other\n")
    assert [(p.name, str(p.version), p.via) for p in pins] == [
        ("cffi", "2.1.1", ["cryptography"]), ("fastapi", "0.1", [DIRECT, "other"])]
    assert pins[0].marker is not None and pins[1].marker is None
