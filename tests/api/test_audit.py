"""Audit: who started, answered and aborted a session is in its record and in the `fenix.audit` log; a project reads
its own part of the history; `fenix session export` writes a finished session's record as JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix import tokens
from fenix.constants import session_workflow_id
from fenix.models.audit import ActionRecord, Actor
from tests.api.helpers import LONG_WINDOWS, answer, assert_error, silent, two_host_seed, wait_asked
from tests.cli.helpers import fenix
from workflows.audit import MAX_AUDIT_ENTRIES
from workflows.session import MaintenanceSessionWorkflow


def actors(entries: list[dict[str, Any]], kind: str) -> list[tuple[str, str, str]]:
    return [(e["detail"], e["actor"]["name"], e["actor"]["project_id"]) for e in entries
            if e["kind"] == kind and e["actor"] is not None]


async def test_who_did_what_and_each_project_reads_its_own_part(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fenix.audit")
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta")) as st:
        sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
        await wait_asked(st, sid, "alpha", "MAINTENANCE")
        assert (await answer(st, sid, "alpha", "ACK_MAINTENANCE", actor={"name": "forged", "project_id": "x"})
                ).status_code == 200

        # The project's own part: its notice, its reply (with the token that gave it), the session's states.
        async with st.as_project("alpha") as alpha:
            r = await alpha.get(f"/maintenance/{sid}/history")
            assert r.status_code == 200, r.text
            mine = r.json()
            assert mine["project_id"] == "alpha" and mine["state"] == "MAINTENANCE"
            kinds = [(e["kind"], e["project_id"]) for e in mine["entries"]]
            assert ("notice", "alpha") in kinds and ("reply", "alpha") in kinds and ("state", None) in kinds, kinds
            assert all(p in ("alpha", None) for _, p in kinds), kinds  # nothing of beta's, no admin entry
            assert all(k == "state" for k, p in kinds if p is None), kinds
            # The reply's actor is the caller's token, never what the body claims.
            assert actors(mine["entries"], "reply") == [("ACK_MAINTENANCE", "alpha", "alpha")]
            assert_error(await alpha.get(f"/maintenance/{sid}/history?project_id=beta"), 403, "own")
        gamma = tokens.add(st.settings.tokens_path, project_id="gamma").token
        async with httpx.AsyncClient(base_url=st.api_url, headers={"X-Auth-Token": gamma}, timeout=30) as other:
            # A project with no part in the session learns nothing of it (the same 404 as no session at all).
            assert_error(await other.get(f"/maintenance/{sid}/history"), 404, sid)
            assert_error(await other.get("/maintenance/no-such-session/history"), 404)

        # The admin sees everything, with who started it; `?project_id=` narrows it to one project's part.
        whole = (await st.admin.get(f"/maintenance/{sid}/history")).json()
        assert whole["project_id"] is None
        assert actors(whole["entries"], "audit") == [("start", "stack-admin", "admin")]
        assert {e["project_id"] for e in whole["entries"]} >= {"alpha", "beta"}
        beta = (await st.admin.get(f"/maintenance/{sid}/history?project_id=beta")).json()
        assert beta["project_id"] == "beta" and {e["project_id"] for e in beta["entries"]} <= {"beta", None}

        running = await fenix("session", "export", sid, "--url", st.api_url, token=st.admin_token)
        assert running.code == 1 and "still runs" in running.stderr and not running.stdout, running

        # Who aborted is recorded before what the abort caused.
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200, r.text
        assert (await st.result(sid, timeout=60)).aborted
        whole = (await st.admin.get(f"/maintenance/{sid}/history")).json()
        assert actors(whole["entries"], "audit") == [("start", "stack-admin", "admin"),
                                                     ("abort", "stack-admin", "admin")]
        kinds = [(e["kind"], e["detail"]) for e in whole["entries"]]
        assert kinds.index(("audit", "abort")) < kinds.index(("state", "MAINTENANCE_FAILED")), kinds
        # The project still reads its part of the ended session: the end, and the notice that told it.
        async with st.as_project("alpha") as alpha:
            mine = (await alpha.get(f"/maintenance/{sid}/history")).json()
        assert mine["state"] == "MAINTENANCE_FAILED"
        assert [e["detail"] for e in mine["entries"] if e["kind"] == "state"][-1] == "MAINTENANCE_FAILED"

        # The operator keeps the record beyond Temporal's retention.
        exported = await fenix("session", "export", sid, "--url", st.api_url, token=st.admin_token)
        assert exported.code == 0, exported
        record = json.loads(exported.stdout)
        assert record["format"] == "fenix-session-record/1" and record["session"]["session_id"] == sid
        assert record["session"]["state"] == "MAINTENANCE_FAILED" and record["session"]["aborted"] is True
        assert actors(record["session"]["history"], "audit") == actors(whole["entries"], "audit")
        project = await fenix("session", "export", sid, "--url", st.api_url, token=st.project_tokens["alpha"])
        assert project.code == 1 and "admin role" in project.stderr, project

    # Every action in the audit log, as fields.
    audited = [(r.audit_action, r.actor, r.__dict__.get("session_id")) for r in caplog.records  # type: ignore[attr-defined]
               if r.name == "fenix.audit"]
    assert audited == [("start", "stack-admin", sid), ("reply", "alpha", sid), ("abort", "stack-admin", sid)], audited


async def test_a_sessions_audit_record_is_bounded(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha", "beta")) as st:
        sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
        await wait_asked(st, sid, "alpha", "MAINTENANCE")
        handle = st.client.get_workflow_handle(session_workflow_id(sid))
        who = Actor(name="noisy-operator", project_id="admin", roles=["admin"])
        for n in range(MAX_AUDIT_ENTRIES + 5):
            await handle.signal(MaintenanceSessionWorkflow.record_action, ActionRecord(actor=who, action=f"poke {n}"))
        whole = (await st.admin.get(f"/maintenance/{sid}/history")).json()
        audit = [e for e in whole["entries"] if e["kind"] == "audit"]
        # The start, then the first pokes up to the bound, then one note that there were more.
        assert len(audit) == MAX_AUDIT_ENTRIES + 1, len(audit)
        assert audit[-2]["detail"] == f"poke {MAX_AUDIT_ENTRIES - 2}"
        assert audit[-1]["actor"] is None and "only in the API's audit log" in audit[-1]["detail"]
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        await st.result(sid, timeout=60)
