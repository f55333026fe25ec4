"""`make demo` as a user runs it: a separate process that must end MAINTENANCE_DONE with exit code 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from demo.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_a_session_to_done_and_keeps_temporal_state(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "demo.run", "--data-dir", str(tmp_path), "--ui-port", str(free_port())]
    for run in (1, 2):  # the second run reuses the dev server's SQLite database and the tokens
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"run {run}:\n{proc.stdout}\n{proc.stderr}"
        assert "MAINTENANCE_DONE" in proc.stdout
        assert "Traceback" not in proc.stdout + proc.stderr
    assert (tmp_path / "temporal.sqlite").stat().st_size > 0
    assert (tmp_path / "tokens.json").exists()
