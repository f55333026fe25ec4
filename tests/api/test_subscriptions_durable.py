"""Subscriptions outlive the API and the worker: they live in a registry workflow, not in a process."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_subscriptions_survive_api_and_worker_restart(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    queue, tokens = f"tq-{uuid.uuid4()}", tmp_path / "tokens.json"
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    async with stack(dev_env, tmp_path / "1", roomy_seed(), vnfms(), task_queue=queue, tokens_file=tokens) as st:
        r = await st.admin.get("/subscriptions")
        first = {s["id"]: s for s in r.json()["subscriptions"]}
        assert {s["project_id"] for s in first.values()} == {"vnf-ha", "vnf-web", "vnf-batch"}
    # A new API process and a new worker on the same Temporal: the registry replays, nothing is lost.
    async with stack(dev_env, tmp_path / "2", roomy_seed(), vnfms(), task_queue=queue, tokens_file=tokens,
                     subscribe=[]) as st:
        r = await st.admin.get("/subscriptions")
        assert r.status_code == 200, r.text
        again = {s["id"]: s for s in r.json()["subscriptions"]}
        assert again == first
        async with st.as_project("vnf-web") as web:
            r = await web.get("/subscriptions")
            assert [s["project_id"] for s in r.json()["subscriptions"]] == ["vnf-web"]
            sid = r.json()["subscriptions"][0]["id"]
            assert (await web.delete(f"/subscriptions/{sid}")).status_code == 204
            assert (await web.delete(f"/subscriptions/{sid}")).status_code == 404
        r = await st.admin.get("/subscriptions")
        assert {s["project_id"] for s in r.json()["subscriptions"]} == {"vnf-ha", "vnf-batch"}
