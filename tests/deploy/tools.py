"""The real validators for deploy/: promtool (Prometheus) and caddy (the API's proxy).

Neither is on PyPI. `make deploy-tools` (run by `make test`) unpacks them from Debian's prometheus and caddy packages
into <venv>/deploy-tools; one on PATH works too. Without them the checks skip, unless FENIX_REQUIRE_DEPLOY_TOOLS is
set, as CI does (.ci/run), so that CI cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# <venv>/bin/python -> <venv>/deploy-tools/usr/bin, where the Makefile's deploy-tools target unpacks them.
UNPACKED = Path(sys.prefix) / "deploy-tools" / "usr" / "bin"


def deploy_tool(name: str) -> Path:
    """The tool's path; skips the test (or fails it, under FENIX_REQUIRE_DEPLOY_TOOLS) if it is nowhere."""
    for candidate in (UNPACKED / name, shutil.which(name)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    reason = f"{name} not found in {UNPACKED} or on PATH: run `make deploy-tools` (needs apt)"
    if os.environ.get("FENIX_REQUIRE_DEPLOY_TOOLS"):
        pytest.fail(reason)
    pytest.skip(reason)


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=60)
