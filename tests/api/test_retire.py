"""Retiring a host over real HTTP: started through the API with `retire`, `GET /v1/hosts/{host}` answers RETIRED,
and a subscribed infrastructure service hears RETIRED instead of IN_MAINTENANCE / MAINTENANCE_COMPLETE."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.models.hosts import HostState
from fenix.models.session import SessionState
from tests.api.helpers import LONG_WINDOWS, answer, assert_error, silent, two_host_seed, wait_asked
from tests.api.hooks import hooks
from tests.api.test_host_events import subscribe_service
from tests.waiting import poll


async def test_a_retired_host_is_shown_and_announced_as_retired(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with hooks() as received, stack(ts_env, tmp_path, two_host_seed(busy="c0", empty="c1"),
                                          silent("alpha", "beta")) as st:
        await subscribe_service(st, received)
        bad = await st.admin.post("/maintenance", json={"hosts": ["c0"], "maintenance_at": "2020-01-01 00:00:00",
                                                        "retire": "maybe"})
        assert_error(bad, 422, "retire")
        async with st.as_project("alpha") as project:  # retiring is an admin action
            denied = await project.post("/maintenance", json={"hosts": ["c0"], "retire": True,
                                                              "maintenance_at": "2020-01-01 00:00:00"})
            assert denied.status_code == 403, denied.text
        sid = await st.start(hosts=["c0"], retire=True, reply_windows=LONG_WINDOWS)
        for pid in ("alpha", "beta"):
            await wait_asked(st, sid, pid, "MAINTENANCE", timeout=60)
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
        for pid in ("alpha", "beta"):
            await wait_asked(st, sid, pid, "PREPARE_MAINTENANCE", timeout=60)
            assert (await answer(st, sid, pid, "ACK_PREPARE_MAINTENANCE",
                                 instance_action="MIGRATE")).status_code == 200
        # Emptied and retired; the session waits for the projects' last answers.
        await wait_asked(st, sid, "alpha", "MAINTENANCE_COMPLETE", timeout=60)
        r = await st.admin.get("/hosts/c0")
        assert r.status_code == 200, r.text
        shown = r.json()
        assert shown["state"] == HostState.RETIRED and shown["session_id"] == sid and shown["in_maintenance"], shown
        for pid in ("alpha", "beta"):
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE_COMPLETE")).status_code == 200
        ended = await st.result(sid, timeout=60)
        assert ended.state == SessionState.MAINTENANCE_DONE, ended.reason
        want = [("c0", HostState.PLANNED), ("c0", HostState.DISABLED), ("c0", HostState.RETIRED)]
        await poll(lambda: all(len(received.host_events(f)) >= len(want) for f in ("native", "aodh")) or None,
                   "RETIRED delivered", 30)
        for fmt in ("native", "aodh"):
            assert received.host_events(fmt) == want, fmt
        c0 = next(h for h in st.cloud.snapshot().hosts if h.name == "c0")
        assert not c0.enabled and "retired" in (c0.disabled_reason or "")
