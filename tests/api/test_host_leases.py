"""One session per host, under concurrency (issue 9, item 8): host leases are taken atomically before the answer.

Fenix 0.1 checked Temporal visibility, which lags: six POSTs at once over one host started 2 to 4 sessions. Now
the hosts are leased by an Update to one registry workflow that grants one at a time, so exactly one POST wins.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.constants import session_workflow_id
from tests.api.helpers import LONG_WINDOWS, assert_error, silent, two_host_seed

FUTURE = "2099-01-01 00:00:00"


async def test_concurrent_posts_over_one_host_start_one_session(dev_env: WorkflowEnvironment,
                                                                tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[]) as st:
        bodies = [{"hosts": ["c0"] if n % 2 else ["c1", "c0"], "maintenance_at": FUTURE,
                   "reply_windows": LONG_WINDOWS} for n in range(6)]
        answers = await asyncio.gather(*(st.admin.post("/maintenance", json=b) for b in bodies))
        won = [r.json()["session_id"] for r in answers if r.status_code == 200]
        assert len(won) == 1, [(r.status_code, r.text) for r in answers]
        for r in answers:
            if r.status_code != 200:
                assert_error(r, 409, "c0", won[0])
        # Temporal agrees: one session workflow runs.
        running = []
        for r in answers:
            sid = r.json().get("session_id")
            if sid:
                desc = await st.client.get_workflow_handle(session_workflow_id(sid)).describe()
                running.append(desc.status == WorkflowExecutionStatus.RUNNING)
        assert running == [True]
        # Another host set is free; all hosts is not.
        assert_error(await st.admin.post("/maintenance", json={"hosts": [], "maintenance_at": FUTURE}), 409, won[0])

        # Ended (aborted), the session holds nothing: the next one gets the host, at once.
        assert (await st.admin.delete(f"/maintenance/{won[0]}")).json()["aborting"] is True
        assert (await st.result(won[0])).aborted
        r = await st.admin.post("/maintenance", json={"hosts": ["c0"], "maintenance_at": FUTURE,
                                                      "reply_windows": LONG_WINDOWS})
        assert r.status_code == 200, r.text
        nxt = r.json()["session_id"]
        await st.admin.delete(f"/maintenance/{nxt}")
        await st.result(nxt)
        # A session deleted after its end gives its lease back too.
        assert (await st.admin.delete(f"/maintenance/{nxt}")).json() == {}
        r = await st.admin.post("/maintenance", json={"hosts": ["c0", "c1"], "maintenance_at": FUTURE,
                                                      "reply_windows": LONG_WINDOWS})
        assert r.status_code == 200, r.text
        last = r.json()["session_id"]
        await st.admin.delete(f"/maintenance/{last}")
        await st.result(last)
