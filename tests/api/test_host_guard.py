"""One session per host: overlapping sessions are refused with 409 while the first one runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_overlapping_session_is_refused(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms()
    for p in projects:
        p.behaviour = "silent"  # the first session waits in MAINTENANCE while we try to start others
    async with stack(dev_env, tmp_path, roomy_seed(), projects) as st:
        first = await st.start(hosts=["c0", "c1"], reply_windows={"maintenance": 3600})
        for _ in range(100):  # visibility lags the start by up to a second
            if first in (await st.admin.get("/maintenance")).json()["sessions"]:
                break
            await asyncio.sleep(0.05)
        r = await st.admin.post("/maintenance", json={"hosts": ["c1", "c2"], "maintenance_at": "2020-01-01 00:00:00"})
        assert r.status_code == 409 and "c1" in r.json()["error"] and first in r.json()["error"], r.text
        r = await st.admin.post("/maintenance", json={"hosts": [], "maintenance_at": "2020-01-01 00:00:00"})
        assert r.status_code == 409, r.text
        r = await st.admin.post("/maintenance", json={"hosts": ["c2"], "maintenance_at": "2020-01-01 00:00:00",
                                                      "reply_windows": {"maintenance": 3600}})
        assert r.status_code == 200, r.text
        second = r.json()["session_id"]
        for sid in (first, second):
            assert (await st.admin.delete(f"/maintenance/{sid}")).json()["aborting"] is True
        for sid in (first, second):
            assert (await st.result(sid)).aborted
        # Once they have ended, the hosts are free again.
        for _ in range(100):
            r = await st.admin.post("/maintenance", json={"hosts": ["c1"], "maintenance_at": "2020-01-01 00:00:00",
                                                          "reply_windows": {"maintenance": 3600}})
            if r.status_code != 409:
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 200, r.text
        await st.admin.delete(f"/maintenance/{r.json()['session_id']}")
        await st.result(r.json()["session_id"])
