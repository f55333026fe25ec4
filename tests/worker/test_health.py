"""The worker's `/healthz` and `/readyz` (FENIX_WORKER_HEALTH_PORT): alive at once, ready once it polls on the real
dev server, 503 with the reason before; and `fenix worker` as a process, logging JSON lines."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port, stack_settings
from fenix.settings import Settings
from tests.cli.helpers import cli_env
from tests.cli.test_wait_for_temporal import fenix_service
from tests.waiting import poll
from worker import WorkerReadiness, serve, start_health_server


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """worker.serve() in this process, with a stop instead of a signal; its health endpoints' client."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.worker_health_port}") as http:

            async def up() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    assert not task.done() or task.result() is None
                    return False

            await poll(up, "the worker's /healthz", timeout=10)
            yield http
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def worker_settings(tmp_path: Path, address: str, **extra: Any) -> Settings:
    return stack_settings(tmp_path, f"health-{uuid.uuid4()}", temporal_address=address,
                          **{"worker_health_port": free_port(), "worker_metrics_port": 0, **extra})


async def test_ready_once_polling(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    settings = worker_settings(tmp_path, dev_env.client.service_client.config.target_host)
    async with serving(settings) as http:

        async def ready() -> httpx.Response | None:
            r = await http.get("/readyz")
            return r if r.status_code == 200 else None

        r = await poll(ready, "the worker to be ready", timeout=15)
        body = r.json()
        assert body["status"] == "ready" and r.headers["content-type"] == "application/json"
        assert {name: c["status"] for name, c in body["checks"].items()} == {
            "temporal": "ok", "namespace": "ok", "search_attributes": "ok", "polling": "ok"}
        assert body["checks"]["polling"]["detail"] == f"polling task queue {settings.task_queue}"
        # What else a client may send.
        assert (await http.head("/readyz")).status_code == 200
        r = await http.post("/readyz")
        assert r.status_code == 405 and "GET /healthz or /readyz" in r.json()["error"]
        assert (await http.get("/metrics")).status_code == 404  # the metrics have their own port
        assert (await http.get("/healthz?verbose=1")).json() == {"status": "ok"}
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.worker_health_port)
        writer.write(b"garbage\r\n\r\n")  # not HTTP: dropped without an answer, the server carries on
        assert await reader.read() == b""
        writer.close()
        assert (await http.get("/healthz")).status_code == 200


async def test_not_ready_before_temporal(tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens: the worker keeps trying
    async with serving(worker_settings(tmp_path, nowhere, temporal_connect_timeout_s=60)) as http:
        r = await http.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        body = r.json()
        assert {name: c["status"] for name, c in body["checks"].items()} == {
            "temporal": "failed", "namespace": "skipped", "search_attributes": "skipped", "polling": "failed"}
        assert f"not connected to Temporal at {nowhere}" in body["error"]
        assert "polling: not polling task queue" in body["error"]


async def test_fenix_worker_process_health_and_json_logs(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    port, queue = free_port(), f"health-{uuid.uuid4().hex[:8]}"
    env = cli_env(data_dir=str(tmp_path), temporal_address=dev_env.client.service_client.config.target_host,
                  task_queue=queue, registry_workflow_id=f"subscriptions-{queue}", worker_health_port=str(port),
                  worker_metrics_port="0",  # 9464 may be another test's worker's (the suite runs in parallel)
                  log_format="json")
    log = tmp_path / "worker.log"
    async with fenix_service("worker", env, log) as worker, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

        async def ready() -> bool:
            assert worker.returncode is None, log.read_text()
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await poll(ready, f"fenix worker to be ready (see {log})", timeout=30, every=0.1)
    assert worker.returncode == 0, log.read_text()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"] == f"worker polling task queue {queue} at {env['FENIX_TEMPORAL_ADDRESS']}"
               and line["logger"] == "fenix.worker" and line["level"] == "info" for line in lines), lines
    # Temporal's core (Rust) writes its own lines; everything from Python is JSON.
    others = [line for line in log.read_text().splitlines() if not line.startswith("{")]
    assert all("temporalio_sdk_core" in line or "temporal_sdk_core" in line for line in others), others


async def test_a_busy_port_is_no_reason_to_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Several workers on one host with the default port: the second runs without the endpoints, and says so."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = worker_settings(tmp_path, "127.0.0.1:1", worker_health_port=taken.getsockname()[1])
        with caplog.at_level(logging.ERROR, "fenix.worker"):
            health = await start_health_server(settings, WorkerReadiness(settings))
        await health.close()
    assert "no health endpoints: cannot listen on 127.0.0.1" in caplog.text
