"""`POST /v1/capacity` over real HTTP: the hosts are read from the cloud, every subscribed project hears
CAPACITY_CHANGED with the numbers; unknown hosts and bad bodies are 422, non-admins 403."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from tests.workflows.test_session_flow import PROJECTS, roomy_seed, vnfms


async def capacity_notices(st: Stack, count: int) -> dict[str, dict[str, object]]:
    for _ in range(200):
        got = {e.project_id: e.metadata for e in st.vnfm.state.events if e.state == "CAPACITY_CHANGED"}
        if len(got) >= count:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"CAPACITY_CHANGED reached {sorted(got)} only")


async def test_added_hosts_are_announced_to_every_subscribed_project(ts_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(), subscribe=["vnf-ha", "vnf-web"]) as st:
        st.cloud.add_host("c9", 8, 16384)
        st.cloud.add_host("c10", 4, 8192)
        st.cloud.disable_host("c10", "not yet in service")
        r = await st.admin.post("/capacity", json={"hosts": ["c9", "c10"]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["hosts"] == ["c9", "c10"] and body["projects"] == 2
        assert (body["vcpus"], body["memory_mb"]) == (12, 24576)
        assert (body["vcpus_free"], body["memory_mb_free"]) == (8, 16384)  # c10 takes no servers yet
        got = await capacity_notices(st, 2)
        assert sorted(got) == ["vnf-ha", "vnf-web"]  # vnf-batch has no subscription
        for meta in got.values():
            assert meta == {"hosts_added": ["c9", "c10"], "vcpus": 12, "memory_mb": 24576, "vcpus_free": 8,
                            "memory_mb_free": 16384}
        # No session, nothing to answer: no instances named, and the VNFM did not try to reply.
        assert all(e.instance_ids == [] for e in st.vnfm.state.events if e.state == "CAPACITY_CHANGED")
        assert not st.vnfm.state.errors


async def test_refusals(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        r = await st.admin.post("/capacity", json={"hosts": ["c0", "nope"]})
        assert r.status_code == 422 and "nope" in r.text, r.text
        bodies: list[dict[str, object]] = [{"hosts": []}, {"hosts": ["a b"]}, {}, {"hosts": ["c0"], "extra": 1}]
        for bad in bodies:
            r = await st.admin.post("/capacity", json=bad)
            assert r.status_code == 422, (bad, r.text)
        async with st.as_project(PROJECTS[0]) as project:
            r = await project.post("/capacity", json={"hosts": ["c0"]})
            assert r.status_code == 403, r.text
        async with httpx.AsyncClient(base_url=st.api_url) as anonymous:
            r = await anonymous.post("/capacity", json={"hosts": ["c0"]})
            assert r.status_code == 401, r.text
        await asyncio.sleep(0.2)
        assert not [e for e in st.vnfm.state.events if e.state == "CAPACITY_CHANGED"]
