"""An embedded Fenix (simulated cloud, worker, API and sample VNFMs, all over real HTTP), for the demo and tests."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from demo.vnfm import SampleVnfm, VnfmConfig, VnfmProject
from fenix import tokens
from fenix.cloud.clock import temporal_clock
from fenix.cloud.simulated import SimSeed, SimulatedCloud
from fenix.constants import session_workflow_id
from fenix.models.session import SessionDetail
from fenix.settings import Settings
from worker import running_worker

GRACEFUL_SHUTDOWN_S = 5
LOOPBACK = "127.0.0.0/8,::1/128"  # FENIX_WEBHOOK_ALLOW of the embedded stacks: their VNFMs are on 127.0.0.1


# Ports handed out for servers started a moment later (by this process or a child it starts). Below Linux's
# ephemeral range (32768-60999, where bind(0) and outgoing connections take theirs), so only free_port() hands them
# out: bind(0) gave two runners of the parallel test suite (`pytest -n`) the same just-released port. Each runner
# has a slice of its own (PYTEST_XDIST_WORKER=gwN), and a port is not handed out again while it may still be about
# to be bound (the last _RECENT ones).
_FIRST, _LAST, _SLICE, _RECENT = 20000, 32000, 1500, 100
_pick = random.SystemRandom()
_recent: list[int] = []


def _ports() -> range:
    runner = os.environ.get("PYTEST_XDIST_WORKER", "")
    if runner.startswith("gw") and runner[2:].isdigit():
        first = _FIRST + int(runner[2:]) * _SLICE
        if first + _SLICE <= _LAST:
            return range(first, first + _SLICE)
    return range(_FIRST, _LAST)


def free_port() -> int:
    ports = _ports()
    for _ in range(200):
        port = _pick.choice(ports)
        if port in _recent:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _recent.append(port)
            del _recent[:-_RECENT]
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]
        return chosen


@asynccontextmanager
async def serve(app: FastAPI, port: int) -> AsyncIterator[None]:
    # A bounded graceful shutdown: a request still waiting on Temporal must not hold the stack open forever.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            try:
                task.result()
            except SystemExit as err:
                # uvicorn exits the process when it cannot start (a port taken): an error of this server, not the
                # end of the caller (in a test run, a SystemExit broke the runner's event loop for every later test).
                raise RuntimeError(f"the server on 127.0.0.1:{port} did not start (exit {err.code})") from None
            raise RuntimeError(f"the server on 127.0.0.1:{port} stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    client: Client
    settings: Settings
    cloud: SimulatedCloud
    vnfm: SampleVnfm
    admin: httpx.AsyncClient
    api_url: str
    vnfm_url: str
    project_tokens: dict[str, str] = field(default_factory=dict)
    time_skipping: bool = False
    admin_token: str = ""  # the secret (the tokens file keeps only its hash)

    def as_project(self, project_id: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers={"X-Auth-Token": self.project_tokens[project_id]},
                                 timeout=30)

    async def subscribe(self, project_id: str, fmt: str = "native") -> None:
        async with self.as_project(project_id) as http:
            # As a VNFM would: a 503 (no worker answered in time, e.g. one still starting) is tried again. Creating
            # a subscription is idempotent, and one answered 503 was not created.
            for _ in range(5):
                r = await http.post("/subscriptions", json={"url": f"{self.vnfm_url}/webhook/{project_id}",
                                                            "format": fmt})
                if r.status_code != 503:
                    break
            assert r.status_code == 201, r.text
        self.vnfm.trust(project_id, r.json()["secret"])  # the sample VNFM verifies every notice with it

    async def start(self, **body: Any) -> str:
        body.setdefault("maintenance_at", "2020-01-01 00:00:00")
        body.setdefault("metadata", {"openstack_version": "Next"})
        r = await self.admin.post("/maintenance", json=body)
        assert r.status_code == 200, r.text
        sid: str = r.json()["session_id"]
        return sid

    @asynccontextmanager
    async def _time_skipping(self) -> AsyncIterator[None]:
        """Let the time-skipping server skip while we wait (it only does so by itself for handles that the
        test env's own client started; these sessions are started through the API)."""
        if not self.time_skipping:
            yield
            return
        await self.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            yield
        finally:
            await self.client.test_service.lock_time_skipping(LockTimeSkippingRequest())

    async def result(self, session_id: str, timeout: float = 120) -> SessionDetail:
        """Wait for the session to end; with `skip_time` the time-skipping server skips idle waits meanwhile."""
        handle = self.client.get_workflow_handle(session_workflow_id(session_id), result_type=SessionDetail)
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._time_skipping():
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    return await asyncio.wait_for(handle.result(), left)
                except TimeoutError:
                    break
                except RuntimeError as err:
                    # The test server ends an idle history long-poll with no event after ~20 s of real time.
                    if "No completion event" not in str(err):
                        raise
        # Say where it got stuck: the last history entries of the live session.
        detail = await handle.query("detail", result_type=SessionDetail)
        tail = "\n".join(f"{h.at} {h.kind} {h.state} {h.project_id} {h.host}: {h.detail}"
                          for h in detail.history[-15:])
        raise AssertionError(f"session {session_id} still {detail.state} after {timeout}s: "
                             f"{detail.current}\n{tail}")


def stack_settings(tmp: Path, task_queue: str, **extra: Any) -> Settings:
    # Own task queue and registry: several stacks may share one Temporal server (one after another in a test).
    # The sample VNFMs listen on loopback, which webhooks may reach only when the operator allows it.
    return Settings(data_dir=tmp, task_queue=task_queue, registry_workflow_id=f"subscriptions-{task_queue}",
                    constraints_workflow_id=f"constraints-{task_queue}",
                    sim_db=tmp / "cloud.sqlite", **{"cloud_poll_s": 0.05, "webhook_allow": LOOPBACK, **extra})


def worker_env(settings: Settings, temporal_address: str, *, sim_time_scale: float) -> dict[str, str]:
    """FENIX_* variables that make a separate `worker.py` process serve the same stack. Without a metrics endpoint:
    tests run several worker processes at once, and the port is one per machine (a test that wants it sets it)."""
    return {"FENIX_WORKER_METRICS_PORT": "0",
            "FENIX_TEMPORAL_ADDRESS": temporal_address, "FENIX_TASK_QUEUE": settings.task_queue,
            "FENIX_REGISTRY_WORKFLOW_ID": settings.registry_workflow_id,
            "FENIX_CONSTRAINTS_WORKFLOW_ID": settings.constraints_workflow_id, "FENIX_DATA_DIR": str(settings.data_dir),
            "FENIX_SIM_DB": str(settings.sim_db_path), "FENIX_SIM_TIME_SCALE": str(sim_time_scale),
            "FENIX_WEBHOOK_ALLOW": settings.webhook_allow}


@asynccontextmanager
async def stack(env: WorkflowEnvironment, tmp: Path, seed: SimSeed, projects: list[VnfmProject] | None = None, *,
                subscribe: list[str] | None = None, fmt: str = "native", time_scale: float = 0.01,
                webhook_timeout_s: float = 300, skip_time: bool = False, worker: bool = True,
                task_queue: str | None = None, tokens_file: Path | None = None,
                extra_settings: dict[str, Any] | None = None, census: MetricMeter | None = None,
                client: Client | None = None, tracer_provider: TracerProvider | None = None) -> AsyncIterator[Stack]:
    """Start everything; `projects` get tokens and a VNFM, `subscribe` (default: all of them) webhooks.

    `skip_time` lets the time-skipping server jump over idle waits while we await the result. Only for tests
    where nobody replies in real time (a skip would otherwise expire a reply window before the VNFM answers).
    `worker=False` leaves the worker to the caller (crash tests run it as a separate process, on `task_queue`
    with the settings of `worker_env`), and it must be running before this is entered: subscribing needs it.
    `extra_settings` are more Settings fields (e.g. the API's deadlines). `census`: the meter of the worker's metrics
    endpoint (the demo's runtime), for the gauges of running sessions (fenix/census.py). `client` replaces the
    environment's for the API and the worker (one with tracing's interceptors), `tracer_provider` traces the API
    (fenix/tracing.py)."""
    client = client or env.client
    api_port, vnfm_port = free_port(), free_port()
    settings = stack_settings(tmp, task_queue or f"tq-{uuid.uuid4()}", api_port=api_port,
                              move_inline_s=0.0 if env.supports_time_skipping else 1.0,
                              webhook_timeout_s=webhook_timeout_s, tokens_file=tokens_file, **(extra_settings or {}))
    cloud = SimulatedCloud(settings.sim_db_path, time_scale=time_scale, clock=temporal_clock)
    cloud.seed(seed)
    # The file keeps only hashes: the stack issues its own tokens (a new secret each run, same entries).
    admin_token = tokens.add(settings.tokens_path, project_id=settings.admin_project_id, name="stack-admin",
                             roles=[tokens.ADMIN_ROLE], replace=True)
    projects = projects or []
    for p in projects:
        p.token = tokens.add(settings.tokens_path, project_id=p.project_id, replace=True).token
    api_url = settings.api_url
    vnfm = SampleVnfm(VnfmConfig(api_url=api_url, sim_db=str(cloud.path), port=vnfm_port, projects=projects), cloud)
    # Write deadlines are compared with the workflows' clock: on the time-skipping server that is its virtual clock.
    app = create_app(settings, client, clock=env.get_current_time if env.supports_time_skipping else None,
                     tracer_provider=tracer_provider)
    in_process = running_worker(client, settings, driver=cloud, poll_s=0.02, census=census) if worker \
        else nullcontext()
    async with in_process, serve(app, api_port), \
            serve(vnfm.app, vnfm_port), \
            httpx.AsyncClient(base_url=api_url, headers={"X-Auth-Token": admin_token.token}, timeout=30) as admin:
        st = Stack(client=client, settings=settings, cloud=cloud, vnfm=vnfm, admin=admin, api_url=api_url,
                   vnfm_url=f"http://127.0.0.1:{vnfm_port}",
                   project_tokens={p.project_id: p.token for p in projects},
                   time_skipping=env.supports_time_skipping and skip_time, admin_token=admin_token.token)
        for pid in (subscribe if subscribe is not None else [p.project_id for p in projects]):
            await st.subscribe(pid, fmt)
        await vnfm.register_constraints()
        try:
            yield st
        finally:
            await vnfm.aclose()
