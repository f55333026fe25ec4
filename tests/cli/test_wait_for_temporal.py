"""`fenix api` and `fenix worker` started before Temporal: they wait for it (exponential backoff, each try logged,
the API serving 503 and `/readyz` 503 meanwhile) and come up once Temporal starts; after
FENIX_TEMPORAL_CONNECT_TIMEOUT_S they exit non-zero. They used to exit at once (rc 3 and 1).

Real processes: the two services, and a `temporal server start-dev` started on a free port a little later.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx

from demo.stack import free_port
from fenix import tokens
from fenix.constants import SEARCH_ATTRIBUTES
from fenix.temporal import find_bin, search_attribute_type_name
from tests.cli.helpers import ROOT, cli_env, fenix
from tests.waiting import poll

READ_S = 3.0


@asynccontextmanager
async def process(args: list[str], log: Path, env: dict[str, str] | None = None,
                  ) -> AsyncIterator[Process]:
    """A background process with its output in `log` (read while it runs); SIGTERM at the end, SIGKILL if stuck."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise AssertionError(f"{args[:3]} did not stop on SIGTERM within 20 s:\n{log.read_text()}") from None


def fenix_service(command: str, env: dict[str, str], log: Path) -> AbstractAsyncContextManager[Process]:
    return process([sys.executable, "-m", "cli", command], log, env)


def temporal_dev_server(port: int, log: Path) -> AbstractAsyncContextManager[Process]:
    # With Fenix's search attributes, as `fenix setup` leaves a server: without them /readyz stays 503.
    attributes = [arg for k in SEARCH_ATTRIBUTES
                  for arg in ("--search-attribute", f"{k.name}={search_attribute_type_name(k.indexed_value_type)}")]
    return process([find_bin("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                    "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--headless",
                    "--log-level", "warn", *attributes], log)


async def test_api_and_worker_started_before_temporal_come_up(tmp_path: Path) -> None:
    port, api_port, queue = free_port(), free_port(), f"wait-{uuid.uuid4().hex[:8]}"
    env = cli_env(data_dir=str(tmp_path), temporal_address=f"127.0.0.1:{port}", task_queue=queue,
                  registry_workflow_id=f"subscriptions-{queue}", api_port=str(api_port),
                  temporal_connect_timeout_s="120", api_read_timeout_s=str(READ_S), webhook_allow="127.0.0.1")
    url = f"http://127.0.0.1:{api_port}"
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    # Made before the API starts: the file keeps only a hash, so the secret cannot be read from it afterwards.
    admin = tokens.ensure_admin(tmp_path / "tokens.json", "admin")
    assert admin is not None
    async with fenix_service("worker", env, worker_log) as worker, fenix_service("api", env, api_log) as api, \
            httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def serving() -> bool:
            try:
                return (await http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await poll(serving, "the API to serve /healthz", timeout=30, every=0.1)
        http.headers["X-Auth-Token"] = admin.token
        # Alive, not ready; every call says why.
        r = await http.get("/readyz")
        assert r.status_code == 503 and "not connected to Temporal" in r.json()["error"], r.text
        r = await http.get("/v1/subscriptions")
        assert r.status_code == 503 and "not connected to Temporal" in r.json()["error"], r.text
        assert "not reachable (try 1" in api_log.read_text()
        # The worker process may still be importing on a loaded machine (the parallel suite): its first try can come
        # late; the second follows ~1 s after it.
        await poll(lambda: "not reachable (try 2" in worker_log.read_text(), "the worker to try again", timeout=45)

        async with temporal_dev_server(port, tmp_path / "temporal.log"):

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await poll(ready, f"the API to be ready (see {api_log})", timeout=60, every=0.2)
            # A write needs the worker: it takes the Update once it polls.
            r = await poll_write(http)
            assert r.status_code == 201, r.text
            assert "connected to Temporal" in api_log.read_text()
            assert "worker polling task queue" in worker_log.read_text()
            assert api.returncode is None and worker.returncode is None

        # Temporal gone again: not ready, and calls answer 503 (never 502) within the read deadline.
        r = await http.get("/readyz")
        assert r.status_code == 503 and "does not answer" in r.json()["error"], r.text
        start = time.monotonic()
        r = await http.get("/v1/subscriptions")
        assert r.status_code == 503, r.text
        assert time.monotonic() - start < READ_S + 1.5
    assert api.returncode in (0, -signal.SIGTERM), api_log.read_text()
    assert worker.returncode == 0, worker_log.read_text()


async def poll_write(http: httpx.AsyncClient) -> httpx.Response:
    """POST a subscription until the worker takes it (503 while it is still connecting; a retry is safe)."""
    deadline = time.monotonic() + 60
    while True:
        r = await http.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})
        if r.status_code != 503 or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.2)


async def test_api_and_worker_give_up_after_the_limit(tmp_path: Path) -> None:
    env = cli_env(data_dir=str(tmp_path), temporal_address=f"127.0.0.1:{free_port()}", api_port=str(free_port()),
                  temporal_connect_timeout_s="3")
    start = time.monotonic()
    worker, api = await asyncio.gather(fenix("worker", env=env, timeout=30), fenix("api", env=env, timeout=30))
    assert time.monotonic() - start >= 3
    assert worker.code == 1, worker
    assert api.code == 3, api
    for run in (worker, api):
        assert "not reachable (try 1" in run.stderr and "not reachable (try 2" in run.stderr, run
        assert "gave up on Temporal at 127.0.0.1" in run.stderr, run
