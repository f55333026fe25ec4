"""`GET /v1/hosts` and `GET /v1/hosts/{host}` for infrastructure services: every host of the running sessions with
its state (planned, disabled, in maintenance, back in service), the session, the window and the expected end;
filtered, paged, and read only with the service or admin role."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix import tokens
from fenix.tokens import SERVICE_ROLE
from tests.api.helpers import LONG_WINDOWS, answer, assert_error, instance_ids, silent, two_host_seed, wait_asked
from tests.cli.helpers import fenix
from tests.waiting import poll


async def test_hosts_of_a_session_from_planned_to_back_in_service(ts_env: WorkflowEnvironment,
                                                                  tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(busy="c0", empty="c1"), silent("alpha", "beta")) as st:
        service_token = tokens.add(st.settings.tokens_path, project_id="infra", name="monitoring",
                                   roles=[SERVICE_ROLE]).token
        async with httpx.AsyncClient(base_url=st.api_url, headers={"X-Auth-Token": service_token},
                                     timeout=30) as infra, st.as_project("alpha") as alpha:
            assert (await infra.get("/hosts")).json() == {"hosts": [], "next_marker": None}
            sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
            await wait_asked(st, sid, "alpha", "MAINTENANCE")

            listed = (await infra.get("/hosts")).json()
            assert [(h["host"], h["state"], h["session_id"], h["in_maintenance"]) for h in listed["hosts"]] == \
                [("c0", "PLANNED", sid, False), ("c1", "PLANNED", sid, False)], listed
            assert all(h["maintenance_at"].startswith("2020-01-01T00:00:00") and h["expected_end"] is None
                       for h in listed["hosts"]), listed

            # Filters and pages.
            async def hosts(query: str) -> list[str]:
                r = await infra.get(f"/hosts?{query}")
                assert r.status_code == 200, r.text
                return [h["host"] for h in r.json()["hosts"]]

            assert await hosts("state=PLANNED") == ["c0", "c1"]
            assert await hosts("state=DISABLED") == []
            assert await hosts(f"session_id={sid}") == ["c0", "c1"]
            assert await hosts("session_id=another") == []
            first = (await infra.get("/hosts?limit=1")).json()
            assert [h["host"] for h in first["hosts"]] == ["c0"] and first["next_marker"] == "c0", first
            last = (await infra.get(f"/hosts?limit=1&marker={first['next_marker']}")).json()
            assert [h["host"] for h in last["hosts"]] == ["c1"] and last["next_marker"] is None, last
            # Bad input is a 4xx with the reason; a project may not read hosts.
            assert_error(await infra.get("/hosts?state=SOMETIMES"), 422)
            assert_error(await infra.get("/hosts?limit=0"), 422)
            assert_error(await infra.get("/hosts?limit=1001"), 422)
            assert_error(await infra.get("/hosts?marker=c0'or'1"), 422, "invalid marker")
            assert_error(await alpha.get("/hosts"), 403, "service role")
            assert_error(await alpha.get("/hosts/c0"), 403, "service role")

            # The window opens; c1 (empty) is maintained first, then c0 is disabled and its owners asked.
            for pid in ("alpha", "beta"):
                assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
            d = await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE", timeout=30)
            c0 = (await infra.get("/hosts/c0")).json()
            assert c0["state"] == "DISABLED" and c0["in_maintenance"] is True and c0["sessions"] == [sid], c0
            disabled_at, back_by = datetime.fromisoformat(c0["disabled_at"]), datetime.fromisoformat(c0["expected_end"])
            # The plan: the owners' reply window and move and plug-in allowances (workflows/host_plan.py).
            assert (back_by - disabled_at).total_seconds() >= LONG_WINDOWS["prepare"], c0
            c1 = (await infra.get("/hosts/c1")).json()
            assert c1["state"] == "MAINTENANCE_COMPLETE" and c1["maintained"] and not c1["in_maintenance"], c1
            assert c1["sessions"] == [] and c1["session_id"] == sid and c1["expected_end"] is None, c1
            assert await hosts("state=DISABLED") == ["c0"]
            # The same through the CLI, with the service's token.
            shown = await fenix("host", "status", "c0", "--url", st.api_url, token=service_token)
            assert shown.code == 0 and f"c0: in maintenance (DISABLED, session {sid}, back by " in shown.stdout, shown
            listed_cli = await fenix("host", "list", "--state", "DISABLED", "--url", st.api_url, token=service_token)
            rows = [line.split("│")[1].strip() for line in listed_cli.stdout.splitlines() if line.startswith("│")]
            assert listed_cli.code == 0 and rows == ["c0"], listed_cli
            # A host no running session has.
            assert (await infra.get("/hosts/c9")).json()["state"] == "IN_SERVICE"
            assert (await st.admin.get("/hosts/c0")).json()["state"] == "DISABLED"  # the admin may read too

            for pid in ("alpha", "beta"):
                r = await answer(st, sid, pid, "ACK_PLANNED_MAINTENANCE",
                                 instance_actions=dict.fromkeys(instance_ids(d, pid), "MIGRATE"))
                assert r.status_code == 200, r.text
            await wait_asked(st, sid, "alpha", "MAINTENANCE_COMPLETE", timeout=30)
            assert await hosts("state=MAINTENANCE_COMPLETE") == ["c0", "c1"]
            for pid in ("alpha", "beta"):
                assert (await answer(st, sid, pid, "ACK_MAINTENANCE_COMPLETE")).status_code == 200
            await st.result(sid, timeout=60)
            # An ended session plans nothing: its hosts are in service.
            await poll(lambda: _empty(infra), "no host listed once the session ended", 10)
            assert (await infra.get("/hosts/c0")).json()["state"] == "IN_SERVICE"


async def _empty(http: httpx.AsyncClient) -> bool | None:
    return (await http.get("/hosts")).json()["hosts"] == [] or None
