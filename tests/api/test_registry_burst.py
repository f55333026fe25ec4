"""Writes to a registry from many tenants at once are all taken (api/update_limit.py): Temporal admits 10 Updates in
flight per workflow, and one registry takes every tenant's subscriptions. Without the API's bound on Updates in
flight per registry, 120 projects subscribing at once left requests waiting past 30 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.api.helpers import silent, two_host_seed

WRITERS = 120


async def test_many_projects_subscribing_at_once_are_all_taken(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    names = [f"t{n}" for n in range(WRITERS)]
    async with stack(dev_env, tmp_path, two_host_seed(), silent(*names), subscribe=[]) as st:
        # The registry runs before the burst: its start is not what is measured.
        assert (await st.admin.get("/subscriptions")).status_code == 200
        clients = {p: st.as_project(p) for p in names}
        try:
            answers = await asyncio.gather(*(clients[p].post("/subscriptions", json={"url": f"{st.vnfm_url}/w/{p}"})
                                             for p in names))
        finally:
            for c in clients.values():
                await c.aclose()
        assert sorted(r.status_code for r in answers) == [201] * WRITERS, [r.text for r in answers
                                                                         if r.status_code != 201][:3]
        listed = (await st.admin.get("/subscriptions")).json()["subscriptions"]
        assert sorted(s["project_id"] for s in listed) == sorted(names)
