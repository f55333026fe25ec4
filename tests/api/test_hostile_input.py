"""Hostile and careless input (issue 9, items 2, 6 and 9), over real HTTP on a real Temporal server: every
free-form field is bounded (422 with the bound), ids have a documented character set, numbers are not booleans,
and a session whose input cannot be decoded (started behind the API) still ends by DELETE and frees its hosts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.constants import SESSION_WORKFLOW_TYPE, session_workflow_id
from fenix.models.abort import AbortResult
from fenix.models.lease import LeaseRequest, LeasesState
from fenix.models.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_URL_LENGTH
from tests.api.helpers import LONG_WINDOWS, assert_error, silent, two_host_seed
from workflows.abort import abort_workflow_id
from workflows.leases import HostLeasesWorkflow, host_leases_id

FUTURE = "2099-01-01 00:00:00"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


async def test_free_form_fields_ids_and_types_are_bounded(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, two_host_seed(), silent("alpha"), subscribe=[]) as st, \
            st.as_project("alpha") as alpha:
        # Session metadata: ~210 levels made a session no worker could decode (stuck for ever); 900 was a 500.
        for levels in (MAX_JSON_DEPTH, 210, 900):  # nested(n) is n + 1 objects deep
            r = await st.admin.post("/maintenance", json={"maintenance_at": FUTURE, "metadata": nested(levels)})
            assert_error(r, 422, "metadata", "nested")
        assert_error(await st.admin.post("/maintenance", json={"maintenance_at": FUTURE,
                                                               "metadata": {"x": "y" * MAX_JSON_BYTES}}),
                     422, "metadata", "bytes")
        r = await st.admin.post("/maintenance", json={"maintenance_at": FUTURE, "actions": [
            {"plugin": "dummy", "type": "host", "metadata": nested(MAX_JSON_DEPTH + 1)}]})
        assert_error(r, 422, "actions[0].metadata")
        assert_error(await st.admin.post("/maintenance", json={"maintenance_at": FUTURE, "hosts": ["h" * 256]}),
                     422, "hosts")
        # Deep but within the bound: accepted, and the session reads it back.
        r = await st.admin.post("/maintenance", json={"maintenance_at": FUTURE, "metadata": nested(MAX_JSON_DEPTH - 1),
                                                      "hosts": ["c1"], "reply_windows": LONG_WINDOWS})
        assert r.status_code == 200, r.text
        sid = r.json()["session_id"]
        assert (await st.admin.get(f"/maintenance/{sid}/detail")).json()["metadata"] == nested(MAX_JSON_DEPTH - 1)
        await st.admin.delete(f"/maintenance/{sid}")

        # Constraint ids: a documented character set (no NUL, tab, leading space, bidi override).
        for bad in ("a\x00b", "a\tb", " lead", "a\u202eb", "-dash-first"):
            assert_error(await alpha.put("/instance_group/g", json={"group_id": bad}), 422, "group_id")
            assert_error(await alpha.put("/instance/i", json={"group_id": bad}), 422, "group_id")
        for bad in ("a%00b", "a%09b", "%20lead", "a%E2%80%AEb"):
            assert_error(await alpha.put(f"/instance_group/{bad}", json={}), 422, "group_id")
            assert_error(await alpha.get(f"/instance/{bad}"), 422, "instance_id")
        assert (await alpha.put("/instance_group/ha.group_1:x@y-z", json={})).status_code == 200

        # Strict types in the plan preview: false is not 0 seconds, true is not 1 host.
        assert_error(await st.admin.post("/maintenance/plan", json={"host_maintenance_s": False}),
                     422, "host_maintenance_s")
        assert_error(await st.admin.post("/maintenance/plan", json={"max_parallel_hosts": True}),
                     422, "max_parallel_hosts")
        assert_error(await st.admin.post("/maintenance/plan", json={"warn_ahead": 1}), 422, "warn_ahead")
        r = await st.admin.post("/maintenance/plan", json={"host_maintenance_s": 30})
        assert r.status_code == 200, r.text

        # Subscription URLs: at most the practical URL length.
        long_url = "http://vnfm.example.net/" + "p" * MAX_URL_LENGTH
        assert_error(await alpha.post("/subscriptions", json={"url": long_url}), 422, "url",
                     str(MAX_URL_LENGTH))

        # Bodies: over the limit is a 413 with a reason, before anything parses it.
        limit = st.settings.api_max_body_bytes
        r = await alpha.put("/instance_group/g", content=b"{" + b" " * limit + b"}",
                            headers={"Content-Type": "application/json"})
        assert_error(r, 413, "too large", str(limit))


async def test_a_session_whose_input_cannot_be_decoded_is_ended_by_delete_and_frees_its_hosts(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, two_host_seed(), silent("alpha", "beta"), subscribe=[],
                     extra_settings={"abort_quiet_limit_s": 600}) as st:
        # What the API would do for it (lease c0), then start it behind the API with metadata no worker can decode.
        sid = str(uuid.uuid4())
        leases = await st.client.start_workflow(HostLeasesWorkflow.run, LeasesState(),
                                                id=host_leases_id(st.settings.task_queue),
                                                task_queue=st.settings.task_queue)
        await leases.execute_update(HostLeasesWorkflow.acquire, LeaseRequest(session_id=sid, hosts=["c0"]))
        raw = {"session_id": sid, "hosts": ["c0"], "maintenance_at": "2020-01-01T00:00:00Z",
               "metadata": nested(400)}
        payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(raw).encode())
        await st.client.start_workflow(SESSION_WORKFLOW_TYPE, RawValue(payload), id=session_workflow_id(sid),
                                       task_queue=st.settings.task_queue)
        assert_error(await st.admin.post("/maintenance", json={"hosts": ["c0"], "maintenance_at": FUTURE}), 409, sid)

        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json()["aborting"] is True, r.text
        result = await st.client.get_workflow_handle(abort_workflow_id(sid), result_type=AbortResult).result()
        assert result.outcome == "terminated" and "workflow task failed" in result.reason, result
        desc = await st.client.get_workflow_handle(session_workflow_id(sid)).describe()
        assert desc.status == WorkflowExecutionStatus.TERMINATED
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
        # The abort gave its lease back (before any other grant looked), and the next session over c0 starts.
        assert [lease.session_id for lease in (await leases.query(HostLeasesWorkflow.leases)).leases] == []
        r = await st.admin.post("/maintenance", json={"hosts": ["c0"], "maintenance_at": FUTURE,
                                                      "reply_windows": LONG_WINDOWS})
        assert r.status_code == 200, r.text
        await st.admin.delete(f"/maintenance/{r.json()['session_id']}")
        await st.result(r.json()["session_id"])
