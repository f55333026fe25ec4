"""A notice's lead time runs from its delivery: a worker killed in the middle of the POST must not eat it.

Real processes on the dev server. The project's webhook holds the first per-instance notice (PREPARE or
PLANNED_MAINTENANCE) open; the worker delivering it is killed (SIGKILL) meanwhile, and a new worker delivers it again
~10 s later (the delivery's heartbeat timeout). The project never answers: the engine must act on its default only
once the full lead time has passed since the notice that reached it, and that notice must say so in its
`actions_at`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port, serve, stack, stack_settings, worker_env
from fenix.models.notification import parse_fenix_time
from fenix.models.session import SessionState
from tests.api.helpers import silent, two_host_seed
from tests.drill import Workers, fetch_histories, not_replaying
from tests.waiting import poll

# Kills worker processes and replays whole histories (CPU-heavy): in parallel runs (`pytest -n`), the tests that do
# run one after the other on one runner (`--dist loadgroup`), so they do not starve each other of the two cores.
pytestmark = pytest.mark.xdist_group("worker-killers")

LEAD_S = 5
PER_INSTANCE = ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")  # the per-instance notice (which one: host order)


@dataclass
class Received:
    at: float  # wall clock when the POST arrived
    payload: dict[str, Any]


@dataclass
class SlowWebhook:
    """Takes notices; holds the first per-instance notice open for a long time (the worker is killed meanwhile)."""

    got: list[Received] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> dict[str, str]:
            payload = (await request.json())["payload"]
            self.got.append(Received(at=time.time(), payload=payload))
            if payload["state"] in PER_INSTANCE and len(self.prepares()) == 1:
                await asyncio.sleep(60)
            return {}

        return app

    def prepares(self) -> list[Received]:
        return [r for r in self.got if r.payload["state"] in PER_INSTANCE]


@asynccontextmanager
async def webhook(hook: SlowWebhook) -> AsyncIterator[str]:
    port = free_port()
    async with serve(hook.app(), port):
        yield f"http://127.0.0.1:{port}/hook"


async def test_lead_time_runs_from_the_delivery_after_a_worker_dies_mid_post(dev_env: WorkflowEnvironment,
                                                                            tmp_path: Path) -> None:
    queue = f"tq-{uuid.uuid4()}"
    workers = Workers(worker_env(stack_settings(tmp_path, queue), dev_env.client.service_client.config.target_host,
                                 sim_time_scale=0.2), tmp_path / "worker.log")
    hook = SlowWebhook()
    workers.start()
    try:
        async with webhook(hook) as url, stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"),
                                               subscribe=[], worker=False, task_queue=queue) as st:
            ids = {s.project_id: s.id for s in st.cloud.snapshot().servers}
            alpha0 = ids["alpha"]
            async with st.as_project("alpha") as alpha, st.as_project("beta") as beta:
                r = await alpha.post("/subscriptions", json={"url": url})
                assert r.status_code == 201, r.text
                r = await alpha.put(f"/instance/{alpha0}", json={"lead_time": LEAD_S, "migration_type": "MIGRATE"})
                assert r.status_code == 200, r.text
                r = await beta.put(f"/instance/{ids['beta']}", json={"lead_time": 1, "migration_type": "MIGRATE"})
                assert r.status_code == 200, r.text
            sid = await st.start(hosts=["c0", "c1"], workflow="vnf",
                                 reply_windows={"maintenance": 1, "complete": 1})
            await poll(lambda: hook.prepares(), "the first per-instance notice's POST", timeout=60)
            workers.kill()  # while that POST is still open
            workers.start()
            detail = await st.result(sid, timeout=120)
            assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
            first, *later = hook.prepares()
            assert later, "the notice was not delivered again after the worker died"
            reached = later[0]
            # The notice that reached the project gives it its full lead time from then...
            promised = parse_fenix_time(reached.payload["actions_at"]).timestamp()
            assert promised >= reached.at + LEAD_S - 0.01, (reached.payload, reached.at)
            assert reached.payload["reply_at"] == reached.payload["actions_at"]
            # ... and the engine kept that promise: the default move began only after it (the cloud's own log).
            moves = [m for m in st.cloud.migration_log() if m.server_id == alpha0]
            assert moves, "alpha-0 was never moved"
            assert moves[0].started_at >= reached.at + LEAD_S - 0.5, (moves[0].started_at - reached.at)
            record = next(i for i in detail.instances if i.instance_id == alpha0)
            assert record.action_source and record.action_source.startswith("default")
            assert await not_replaying(await fetch_histories(st, sid, detail)) == []
    finally:
        workers.stop()
