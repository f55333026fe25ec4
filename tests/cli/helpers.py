"""Running `python -m cli` in a subprocess, as an operator would, without blocking the test's event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def cli_env(token: str | None = None, **fenix: str) -> dict[str, str]:
    """This environment minus any FENIX_* of the developer's, plus the given FENIX_<KEY> settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENIX_")}
    env["COLUMNS"] = "200"  # rich would otherwise wrap tables at 80 columns in a pipe
    # A worker process binds no fixed port unless a test asks for one: the suite runs in parallel, and two workers
    # on the default metrics port (9464) or health port (9465) would clash.
    env.update({"FENIX_WORKER_METRICS_PORT": "0", "FENIX_WORKER_HEALTH_PORT": "0"})
    env.update({f"FENIX_{k.upper()}": v for k, v in fenix.items()})
    if token is not None:
        env["FENIX_TOKEN"] = token
    return env


async def fenix(*args: str, token: str | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", *args, cwd=ROOT,
                                                env=env or cli_env(token), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    run = Run(proc.returncode, out.decode(), err.decode())
    assert "Traceback" not in run.stdout + run.stderr, run
    return run


async def poll_cli(done: Callable[[Run], bool], *args: str, token: str, timeout: float = 15) -> Run:
    """Run the CLI until `done(run)` holds (visibility lags by about a second on the dev server)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        run = await fenix(*args, token=token)
        if run.code == 0 and done(run):
            return run
        if loop.time() > deadline:
            raise AssertionError(f"fenix {' '.join(args)} never got there:\n{run}")
        await asyncio.sleep(0.2)
