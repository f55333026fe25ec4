"""With no worker polling, the API answers 503 within its deadlines, and a write answered 503 is never applied
later, when a worker comes back (issue 15: such writes used to hang for minutes and then be applied behind the
client's back, so a client that retried made duplicates).

The first test runs the worker as its own process (`python worker.py`) on the real dev server and kills it
(SIGKILL); the API is the real HTTP app in this process. The second makes the workflows see every write after its
deadline (an API whose clock is an hour behind Temporal's), with a worker running, on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from demo.stack import Stack, free_port, serve, stack, stack_settings, worker_env
from fenix.constants import session_workflow_id
from fenix.models.reply import ProjectReply
from tests.api.helpers import LONG_WINDOWS, assert_error, detail, silent, two_host_seed, wait_asked
from tests.drill import worker_process
from tests.waiting import poll

WRITE_S, READ_S = 4.0, 3.0  # the API's deadlines here (30 s and 15 s by default)
SLACK_S = 1.5  # an answer comes this soon after its deadline at the latest


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = await call
    return r, time.monotonic() - start


def sub_body(st_vnfm_url: str, project: str) -> dict[str, object]:
    return {"url": f"{st_vnfm_url}/webhook/{project}", "format": "aodh"}


async def test_writes_without_a_worker_are_503_and_never_applied_later(dev_env: WorkflowEnvironment,
                                                                      tmp_path: Path) -> None:
    queue = f"tq-{uuid.uuid4()}"
    env = worker_env(stack_settings(tmp_path, queue), dev_env.client.service_client.config.target_host,
                     sim_time_scale=0.01)
    deadlines = {"api_write_timeout_s": WRITE_S, "api_read_timeout_s": READ_S}
    with worker_process(env, tmp_path / "worker-1.log") as first:
        async with stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=["alpha"],
                         worker=False, task_queue=queue, extra_settings=deadlines) as st:
            sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
            handle = st.client.get_workflow_handle(session_workflow_id(sid))
            try:
                await no_worker_then_one(st, sid, first, env, tmp_path)
            finally:
                # The dev server is shared: a session left running with no worker would stall other tests' reads
                # (`session list --long`). no_worker_then_one aborts it; this is for when it failed half-way.
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test failed")


async def no_worker_then_one(st: Stack, sid: str, first: subprocess.Popen[bytes], env: dict[str, str],
                             tmp_path: Path) -> None:
    """The session waits for alpha's reply; the worker is killed; writes and reads get 503; a new worker refuses
    the writes it is handed late, and takes the client's retries."""
    await wait_asked(st, sid, "alpha", "MAINTENANCE", timeout=30)
    handle = st.client.get_workflow_handle(session_workflow_id(sid))

    async def notice_delivered() -> bool:  # else the VNFM's webhook handler meets the 503s below
        return not (await handle.describe()).raw_description.pending_activities

    await poll(notice_delivered, "the MAINTENANCE notice to be delivered", timeout=30)
    async with st.as_project("alpha") as alpha:  # alpha's constraints registry exists: reading it needs a worker
        assert (await alpha.put("/instance_group/g-before", json={})).status_code == 200
    first.kill()  # no graceful shutdown: the worker is simply gone
    first.wait()

    async with st.as_project("alpha") as alpha, st.as_project("beta") as beta:
        # All at once: each request has its own deadline.
        writes = {"reply": alpha.put(f"/maintenance/{sid}/alpha", json={"state": "ACK_MAINTENANCE"}),
                  "subscription": beta.post("/subscriptions", json=sub_body(st.vnfm_url, "beta")),
                  "group": alpha.put("/instance_group/g-late", json={"max_impacted_members": 1})}
        # Reads: 503 with a reason (these were 502 after up to 30 s).
        reads = {"status": st.admin.get(f"/maintenance/{sid}"),
                 "detail": st.admin.get(f"/maintenance/{sid}/detail"),
                 "instance list": alpha.get(f"/maintenance/{sid}/alpha"),
                 "subscriptions": beta.get("/subscriptions"), "groups": alpha.get("/instance_group")}
        answers = await asyncio.gather(*(timed(c) for c in [*writes.values(), *reads.values()]))
        for what, (r, took) in zip([*writes, *reads], answers, strict=True):
            if what in writes:
                assert_error(r, 503, f"no answer within {WRITE_S:g} s", "no Fenix worker",
                             "will not be later")
                assert WRITE_S - 0.5 < took < WRITE_S + SLACK_S, (what, took)
            else:
                assert_error(r, 503, f"no answer within {READ_S:g} s", "no Fenix worker answered")
                assert READ_S - 0.5 < took < READ_S + SLACK_S, (what, took)
            assert r.headers.get("retry-after") == "5", what
        # A monitoring system asking whether a host is down for planned maintenance is still answered, as Fenix 0.1
        # was, from Temporal's visibility (the session has asked, not disabled anything yet).
        r, took = await timed(st.admin.get("/hosts/c0"))
        assert r.status_code == 200, r.text
        assert r.json()["in_maintenance"] is False and r.json()["sessions"] == [], r.json()
        assert took < READ_S + SLACK_S, took

        # A worker comes back, after the deadlines have passed. Temporal hands it the writes it kept; the
        # workflows must refuse them.
        with worker_process(env, tmp_path / "worker-2.log"):
            async def status_ok() -> bool:
                return (await st.admin.get(f"/maintenance/{sid}")).status_code == 200

            await poll(status_ok, "the new worker to answer (see worker-2.log)", timeout=60, every=0.2)
            # The late reply would have been taken at once (seen so with the check left out): alpha would no
            # longer be asked for MAINTENANCE.
            for _ in range(10):
                asked = next(p for p in (await detail(st, sid))["projects"] if p["project_id"] == "alpha")
                assert asked["awaiting"] and asked["state"] == "MAINTENANCE", asked
                await asyncio.sleep(0.2)

            # The client's retries are applied, once. Had the late reply been applied, this one would be a
            # 409 (the session no longer waits for alpha); had the late subscription, this a 200.
            r = await alpha.put(f"/maintenance/{sid}/alpha", json={"state": "ACK_MAINTENANCE"})
            assert r.status_code == 200, r.text
            r = await beta.post("/subscriptions", json=sub_body(st.vnfm_url, "beta"))
            assert r.status_code == 201, r.text
            st.vnfm.trust("beta", r.json()["secret"])
            r = await alpha.put("/instance_group/g-now", json={"max_impacted_members": 1})
            assert r.status_code == 200, r.text

            assert_error(await alpha.get("/instance_group/g-late"), 404, "g-late")
            groups = (await alpha.get("/instance_group")).json()["groups"]
            assert [g["group_id"] for g in groups] == ["g-before", "g-now"]
            subs = (await beta.get("/subscriptions")).json()["subscriptions"]
            assert len(subs) == 1, subs
            d = await detail(st, sid)
            replies = [h for h in d["history"] if h["kind"] == "reply" and h["project_id"] == "alpha"]
            assert len(replies) == 1, replies

            # Ended with a worker, an ended session is read from its result (no worker needed afterwards).
            assert (await st.admin.delete(f"/maintenance/{sid}")).json() == {"session_id": sid, "aborting": True}
            assert (await st.result(sid, timeout=60)).aborted


async def test_writes_the_workflows_see_after_their_deadline_are_refused(ts_env: WorkflowEnvironment,
                                                                          tmp_path: Path) -> None:
    """A worker runs; only the deadline is in the past (as when a worker takes a write after the API gave up)."""

    async def an_hour_behind() -> datetime:
        return await ts_env.get_current_time() - timedelta(hours=1)

    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=["alpha"]) as st:
        sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
        await wait_asked(st, sid, "alpha", "MAINTENANCE")
        async with st.as_project("alpha") as alpha:
            r = await alpha.put("/instance_group/g1", json={})
            assert r.status_code == 200, r.text
            sub_id = (await alpha.get("/subscriptions")).json()["subscriptions"][0]["id"]

        port = free_port()
        late_api = create_app(st.settings, st.client, clock=an_hour_behind)
        headers = {"X-Auth-Token": st.project_tokens["alpha"]}
        async with serve(late_api, port), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1",
                                                            headers=headers, timeout=30) as late:
            writes = [late.put(f"/maintenance/{sid}/alpha", json={"state": "ACK_MAINTENANCE"}),
                      late.post("/subscriptions", json=sub_body(st.vnfm_url, "alpha-2")),
                      late.delete(f"/subscriptions/{sub_id}"),
                      late.put("/instance_group/g2", json={}),
                      late.delete("/instance_group/g1"),
                      late.put("/instance/i1", json={"group_id": "g1"}),
                      late.delete("/instance/i1")]
            for call in writes:
                assert_error(await call, 503, "after its deadline", "not applied")
            # The admin's steering writes too (workflows/steering.py, workflows/window.py).
            late.headers["X-Auth-Token"] = st.admin_token
            steering = [late.post(f"/maintenance/{sid}/pause", json={"reason": "late"}),
                        late.put(f"/maintenance/{sid}", json={"maintenance_at": "2099-01-01 00:00:00"})]
            for call in steering:
                assert_error(await call, 503, "after its deadline", "not applied")

        # Nothing changed.
        d = await detail(st, sid)
        assert not d["steering"]["paused"] and not d["steering"]["rescheduled_by"], d["steering"]
        alpha_now = next(p for p in d["projects"] if p["project_id"] == "alpha")
        assert alpha_now["awaiting"] and alpha_now["state"] == "MAINTENANCE", alpha_now
        async with st.as_project("alpha") as alpha:
            assert [s["id"] for s in (await alpha.get("/subscriptions")).json()["subscriptions"]] == [sub_id]
            assert [g["group_id"] for g in (await alpha.get("/instance_group")).json()["groups"]] == ["g1"]
            assert (await alpha.get("/instance")).json()["instances"] == []

        # The reply signal (VNFMs that talk to Temporal directly) applies the same check, and records the refusal.
        late_reply = ProjectReply(project_id="alpha", state="ACK_MAINTENANCE",
                                  not_after=await ts_env.get_current_time() - timedelta(minutes=1))
        await st.client.get_workflow_handle(session_workflow_id(sid)).signal("reply_signal", late_reply)

        async def refused() -> bool:
            history = (await detail(st, sid))["history"]
            return any("rejected signal reply" in h["detail"] and "after its deadline" in h["detail"]
                       for h in history)

        await poll(refused, "the late signal reply to be refused")
        alpha_now = next(p for p in (await detail(st, sid))["projects"] if p["project_id"] == "alpha")
        assert alpha_now["awaiting"], alpha_now
        # The same reply without a deadline (an older VNFM) is still taken.
        await st.client.get_workflow_handle(session_workflow_id(sid)).signal(
            "reply_signal", ProjectReply(project_id="alpha", state="ACK_MAINTENANCE"))

        async def taken() -> bool:
            projects = (await detail(st, sid))["projects"]
            state: str = next(p for p in projects if p["project_id"] == "alpha")["state"]
            return state == "ACK_MAINTENANCE"

        await poll(taken, "the reply without a deadline to be taken")
