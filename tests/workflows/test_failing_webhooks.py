"""Webhooks that fail: per-project order under retries, and a dead endpoint that must not stall the session.

Real time on the dev server (delivery retries are Temporal's, with their real backoff). Project alpha's endpoint
refuses its first three POSTs (503) and then works; project beta's endpoint answers 500 to everything. Neither
project ever replies.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port, serve, stack
from fenix.models.session import SessionState
from tests.api.helpers import silent, two_host_seed

GRACE_S, DRAIN_S, WINDOW_S = 2.0, 3.0, 2


@dataclass
class Endpoint:
    fail_first: int  # POSTs refused before it works; -1: refuses all
    received: list[str] = field(default_factory=list)  # states of the notices it took, in order
    attempts: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.attempts += 1
            if self.fail_first < 0 or self.attempts <= self.fail_first:
                return JSONResponse({"error": "down"}, status_code=503 if self.fail_first > 0 else 500)
            payload: dict[str, Any] = (await request.json())["payload"]
            self.received.append(str(payload.get("state")))
            return JSONResponse({})

        return app


@asynccontextmanager
async def endpoints(*eps: Endpoint) -> AsyncIterator[list[str]]:
    ports = [free_port() for _ in eps]
    async with serve(eps[0].app(), ports[0]), serve(eps[1].app(), ports[1]):
        yield [f"http://127.0.0.1:{p}/hook" for p in ports]


async def test_order_holds_under_retries_and_a_dead_endpoint_costs_at_most_its_windows(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    flaky, dead = Endpoint(fail_first=3), Endpoint(fail_first=-1)
    async with endpoints(flaky, dead) as (flaky_url, dead_url), \
            stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[],
                  extra_settings={"delivery_grace_s": GRACE_S, "notice_drain_limit_s": DRAIN_S}) as st:
        for pid, url in (("alpha", flaky_url), ("beta", dead_url)):
            async with st.as_project(pid) as http:
                r = await http.post("/subscriptions", json={"url": url})
                assert r.status_code == 201, r.text
        began = time.monotonic()
        windows = {"maintenance": 10, "scale_in": WINDOW_S, "prepare": WINDOW_S, "complete": WINDOW_S}
        sid = await st.start(hosts=["c0", "c1"], reply_windows=windows)
        detail = await st.result(sid, timeout=120)
        took = time.monotonic() - began
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason

        # alpha: its first notice was retried three times; everything still arrived once, in the order sent.
        sent = [h.state for h in detail.history if h.kind == "notice" and h.project_id == "alpha"]
        asked = [s for s in flaky.received if s != "INSTANCE_ACTION_DONE"]
        assert asked == sent, (flaky.received, sent)
        assert "INSTANCE_ACTION_DONE" in flaky.received
        done_at = flaky.received.index("INSTANCE_ACTION_DONE")
        assert flaky.received[:done_at][-1] in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE"), flaky.received
        assert flaky.received[-1] == "MAINTENANCE_COMPLETE", flaky.received

        # beta: nothing ever reached it. Each question it was asked cost at most its window plus the grace (then
        # the default applied), and what was still being retried at the end at most the drain limit: not the 30 min
        # (8 attempts) a delivery may take.
        assert not dead.received and dead.attempts > 0
        defaults = [h for h in detail.history if h.kind == "default" and h.project_id == "beta"]
        assert defaults and all("not delivered" in h.detail or "could not be delivered" in h.detail
                                for h in defaults), [h.detail for h in defaults]
        asked_beta = [h for h in detail.history if h.kind == "notice" and h.project_id == "beta"]
        budget = 10 + GRACE_S + (len(asked_beta) - 1) * (WINDOW_S + GRACE_S) + DRAIN_S
        assert took < budget + 15, (took, budget)
