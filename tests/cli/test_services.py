"""Fenix run by its command line alone: `fenix api` and `fenix worker` processes, a session started and followed
with `fenix session start --watch`, everything configured by FENIX_* variables only."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port
from fenix import tokens
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimulatedCloud
from tests.cli.helpers import ROOT, cli_env, fenix


@asynccontextmanager
async def service(command: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`fenix <command>` in the background; stopped with SIGTERM, which must end it cleanly (uvicorn re-raises
    the signal once it has shut down gracefully, so the API ends "killed by SIGTERM", as servers do)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", command, cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode in (0, -signal.SIGTERM), f"fenix {command} exited {proc.returncode}:\n{err.decode()}"


async def test_api_worker_and_a_session_from_the_command_line(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    host = f"{queue}-h0"  # the dev server is shared: no other test's session holds this host
    env = cli_env(data_dir=str(tmp_path), temporal_address=dev_env.client.service_client.config.target_host,
                  task_queue=queue, registry_workflow_id=f"subscriptions-{queue}", api_port=str(free_port()),
                  sim_time_scale="0.01", worker_metrics_port=str(free_port()))
    SimulatedCloud(tmp_path / "simcloud.sqlite").seed(SimSeed(hosts=[SimHostSpec(name=host, vcpus=4,
                                                                                 memory_mb=8192)]))
    admin = tokens.ensure_admin(tmp_path / "tokens.json", "admin")  # the file keeps only its hash
    assert admin is not None
    async with service("worker", env), service("api", env) as api:
        url = f"http://127.0.0.1:{env['FENIX_API_PORT']}"
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                assert api.returncode is None, "fenix api exited"
                try:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        # No --url: the CLI derives it from FENIX_API_PORT.
        run = await fenix("session", "start", "--host", host, "--watch", "--interval", "0.2",
                          env={**env, "FENIX_TOKEN": admin.token})
        assert run.code == 0, run
        sid = run.stdout.splitlines()[0]
        assert f"session {sid} MAINTENANCE_DONE: 1/1 hosts maintained" in run.stdout, run
