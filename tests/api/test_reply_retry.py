"""A reply is idempotent: the same reply sent again answers 200 as the first time and is applied once.

A Fenix-era VNFM whose PUT is cut after the API forwarded it (the API restarted, a proxy dropped the connection)
sends it again; a 409 would make it believe its answer was lost, and the session would apply the default against
its will. Only a *different* reply to a step already answered is refused.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api.helpers import answer, assert_error, detail, instance_ids, wait_asked
from tests.api.test_errors import probe_stack, start_waiting
from tests.waiting import poll


async def test_a_reply_cut_after_forwarding_and_sent_again_is_taken_once(ts_env: WorkflowEnvironment,
                                                                        tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        url, body = f"{st.api_url}/maintenance/{sid}/alpha", {"state": "ACK_MAINTENANCE"}
        headers = {"X-Auth-Token": st.project_tokens["alpha"]}
        # The client hangs up as soon as its request is out: it never sees the answer.
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=0.001)) as impatient:
            try:
                r = await impatient.put(url, json=body, headers=headers)
                cut = False
            except httpx.ReadTimeout:
                cut = True
        assert cut, f"the connection was not cut: {r.status_code}"

        async def taken() -> bool:
            return any(h["kind"] == "reply" and h["project_id"] == "alpha" for h in (await detail(st, sid))["history"])

        await poll(taken, "the cut reply to reach the session", timeout=20)
        # The retry: the same answer as the first time, nothing applied twice.
        again = await answer(st, sid, "alpha", "ACK_MAINTENANCE")
        assert again.status_code == 200, again.text
        assert again.json()["state"] == "ACK_MAINTENANCE"
        replies = [h for h in (await detail(st, sid))["history"] if h["kind"] == "reply"]
        assert [(h["project_id"], h["state"]) for h in replies] == [("alpha", "ACK_MAINTENANCE")]
        # A different reply to the step already answered is a conflict.
        assert_error(await answer(st, sid, "alpha", "NACK_MAINTENANCE"), 409, "not waiting for a reply from you")


async def test_a_repeated_reply_about_instances_is_taken_once_and_a_changed_one_refused(
        ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        for pid in ("alpha", "beta"):
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
        d = await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE")
        alpha0 = instance_ids(d, "alpha")[0]
        chosen = {alpha0: "LIVE_MIGRATE"}
        first = await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions=chosen)
        assert first.status_code == 200, first.text
        again = await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions=chosen)
        assert again.status_code == 200, again.text
        assert_error(await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions={alpha0: "MIGRATE"}),
                     409, "not waiting")
        replies = [h for h in (await detail(st, sid))["history"] if h["kind"] == "reply" and h["project_id"] == "alpha"]
        assert [h["state"] for h in replies] == ["ACK_MAINTENANCE", "ACK_PLANNED_MAINTENANCE"], replies
