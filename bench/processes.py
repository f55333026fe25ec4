"""Processes of a benchmark stack (the worker, the API, load generators), as deployed: each its own `python`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Started in the repository's root with this environment plus `env`; stdout and stderr appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """SIGTERM (a worker then finishes its tasks in hand), SIGKILL after `grace_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process for the length of the block."""
    proc = spawn(argv, env, log)
    try:
        yield proc
    finally:
        stop(proc)


def worker_argv() -> list[str]:
    return [sys.executable, "worker.py"]
