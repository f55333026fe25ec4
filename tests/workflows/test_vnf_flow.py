"""`vnf` sessions through the API on the time-skipping server, with constraint-registering sample VNFMs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from demo.vnfm import ConstraintProfile, VnfmProject
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound
from tests.waiting import poll
from tests.workflows.test_session_flow import PROJECTS, roomy_seed


def constrained(action: InstanceAction = InstanceAction.LIVE_MIGRATE, **kw: object) -> list[VnfmProject]:
    prof = ConstraintProfile.model_validate(kw)
    return [VnfmProject(project_id=p, token="", action=action, scale_in_step=1, server_prefix=p,
                        ha_group="vnf-ha-ha" if p == "vnf-ha" else None, constraints=prof) for p in PROJECTS]


async def test_vnf_session_per_instance_notices(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), constrained(), skip_time=True) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], workflow="vnf", max_parallel_hosts=3)
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, (detail.reason, detail.history[-5:])
        assert_cloud_sound(st.cloud, before, detail)
        assert not st.vnfm.state.errors
        per_instance = [e for e in st.vnfm.state.events if e.state in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")]
        assert per_instance and all(isinstance(e.instance_ids, list) and len(e.instance_ids) == 1
                                    for e in per_instance)
        assert all(e.reply_status == 200 for e in per_instance), [(e.reply, e.reply_status) for e in per_instance]
        assert all(i.action_source == "reply" for i in detail.instances), [(i.instance_id, i.action_source)
                                                                          for i in detail.instances]


async def test_plan_preview_changes_nothing_and_predicts_the_session(ts_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), constrained(lead_time=30, recovery_time=20, ha_recovery_time=40),
                     skip_time=True) as st:
        before = st.cloud.snapshot()
        r = await st.admin.post("/maintenance/plan", json={"hosts": ["c0", "c1", "c2"], "max_parallel_hosts": 3})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert st.cloud.snapshot() == before and not st.cloud.migration_log(), "a preview must not touch the cloud"
        assert plan["feasible"] and sorted(h for b in plan["batches"] for h in b) == ["c0", "c1", "c2"]
        asked = {i["instance_id"]: i for p in plan["projects"] for i in p["asked"]}
        assert set(asked) == {s.id for s in before.servers}
        ha = [i for i in asked.values() if i["group_id"] and i["group_id"] != f"{i['project_id']}-scale"]
        assert len(ha) == 2 and all(i["action"] == "LIVE_MIGRATE" for i in ha)
        first, second = sorted(ha, key=lambda i: i["actions_at_s"])
        # The HA pair is paced: the second member acts only after the first is done and has recovered (40 s).
        assert first["start_at_s"] >= 30 and first["done_at_s"] > first["start_at_s"]
        assert second["start_at_s"] >= first["done_at_s"] + 40 - 1e-6
        assert plan["estimated_duration_s"] >= 30 + 40  # one lead time, one recovery at least
        assert plan["one_host_at_a_time_s"] >= plan["estimated_duration_s"]
        r = await st.admin.post("/maintenance/plan", json={"hosts": ["nope"]})
        assert r.status_code == 422 and "nope" in r.text
        r = await st.admin.post("/maintenance/plan", json={"max_parallel_hosts": 0})
        assert r.status_code == 422
        async with st.as_project("vnf-web") as http:
            assert (await http.post("/maintenance/plan", json={})).status_code == 403


async def _register(st: Stack, instance_fields: dict[str, dict[str, object]],
                    groups: dict[str, dict[str, object]] | None = None) -> None:
    """PUT constraints as each owning project: `instance_fields` by server name."""
    for gid, body in (groups or {}).items():
        async with st.as_project(str(body["project_id"])) as http:
            r = await http.put(f"/instance_group/{gid}", json=body)
            assert r.status_code == 200, r.text
    for server in st.cloud.snapshot().servers:
        if server.name in instance_fields:
            async with st.as_project(server.project_id) as http:
                r = await http.put(f"/instance/{server.id}",
                                   json={"project_id": server.project_id, **instance_fields[server.name]})
                assert r.status_code == 200, r.text


async def _detail(st: Stack, sid: str) -> dict[str, Any]:
    r = await st.admin.get(f"/maintenance/{sid}/detail")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_vnf_replies_are_per_instance_and_validated(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    silent = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in PROJECTS]
    async with stack(ts_env, tmp_path, roomy_seed(), silent, skip_time=True) as st:
        names = [s.name for s in st.cloud.snapshot().servers]
        await _register(st, {n: {"lead_time": 3600, "migration_type": "MIGRATE"} for n in names})
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], workflow="vnf", max_parallel_hosts=1,
                             reply_windows={"maintenance": 1})
        waiting: dict[str, Any] = {}

        async def someone_waits() -> bool:
            nonlocal waiting
            d = await _detail(st, sid)
            waiting = next((p for p in d["projects"] if p["awaiting"] and p["asked_instances"]
                            and p["state"] in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")), {})
            # Asked, and the notice delivered: until then the host says the lead time has not begun.
            holds = [h for host in d["hosts"] for h in host["held_by"]]
            return bool(waiting) and any("reply or its lead time" in h for h in holds)

        await poll(someone_waits, "a project waiting for an instance reply, its notice delivered", timeout=30)
        pid, iid, state = waiting["project_id"], waiting["asked_instances"][0], waiting["state"]
        other = next(s.id for s in before.servers if s.id not in waiting["asked_instances"] and s.project_id == pid) \
            if sum(s.project_id == pid for s in before.servers) > 1 else "not-an-instance"
        async with st.as_project(pid) as http:
            url = f"/maintenance/{sid}/{pid}"
            r = await http.put(url, json={"state": f"ACK_{state}", "instance_action": "EVICTION",
                                          "instance_ids": [iid]})
            assert r.status_code == 422 and "not allowed" in r.text, r.text
            r = await http.put(url, json={"state": f"ACK_{state}", "instance_action": "LIVE_MIGRATE",
                                          "instance_ids": [other]})
            assert r.status_code == 409 and "not waiting" in r.text, r.text
            r = await http.put(url, json={"state": f"ACK_{state}", "instance_action": "LIVE_MIGRATE",
                                          "instance_ids": [iid]})
            assert r.status_code == 200, r.text
        record = next(i for i in (await _detail(st, sid))["instances"] if i["instance_id"] == iid)
        assert record["action"] == "LIVE_MIGRATE" and record["action_source"] == "reply"
        assert record["notified_at"] and record["actions_at"] and record["group_id"] is None
        detail = await st.result(sid)  # the others wait out their hour-long lead time (skipped)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        log = st.cloud.migration_log()
        first = next(m for m in log if m.server_id == iid)  # it may move again later (it may land on a host to do)
        assert first.migration_type.value == "live-migration"
        assert all(m.migration_type.value == "migration" for m in log if m.server_id != iid)
        lead = {i.instance_id: (i.action_started_at - i.notified_at).total_seconds()  # type: ignore[operator]
                for i in detail.instances if i.instance_id != iid and i.notified_at}
        assert lead and all(v >= 3600 - 1 for v in lead.values()), lead


async def test_vnf_eviction_and_interruption_limit(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    silent = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in PROJECTS]
    async with stack(ts_env, tmp_path, roomy_seed(), silent, skip_time=True) as st:
        await _register(st, {
            "vnf-batch-0": {"migration_type": "EVICTION", "lead_time": 5},
            "vnf-web-0": {"migration_type": "MIGRATE", "max_interruption_time": 0, "lead_time": 5},
            "vnf-web-1": {"migration_type": "MIGRATE", "max_interruption_time": 600, "lead_time": 5},
        })
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], workflow="vnf", max_parallel_hosts=2)
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail, removed_ok={"vnf-batch-0"})
        by_name = {i.name: i for i in detail.instances}
        assert by_name["vnf-batch-0"].action == InstanceAction.EVICTION and by_name["vnf-batch-0"].action_done
        # Deleted by the engine (the VNFM scales back out with a new server at MAINTENANCE_COMPLETE).
        assert by_name["vnf-batch-0"].instance_id not in {s.id for s in st.cloud.snapshot().servers}
        assert by_name["vnf-web-0"].action == InstanceAction.LIVE_MIGRATE
        assert "max_interruption_time" in (by_name["vnf-web-0"].action_source or "")
        assert by_name["vnf-web-1"].action == InstanceAction.MIGRATE


async def test_vnf_scale_in_asks_each_group_within_its_budget(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """A full cloud: no host can be emptied until projects scale in; each is told how many per group."""
    from demo.scenario import demo_seed

    async with stack(ts_env, tmp_path, demo_seed(), constrained(max_impacted_members=1), skip_time=True) as st:
        before = st.cloud.snapshot()
        r = await st.admin.post("/maintenance/plan", json={})
        assert r.status_code == 200 and not r.json()["feasible"] and r.json()["scale_in"], r.text
        sid = await st.start(workflow="vnf")
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        asks = [e for e in st.vnfm.state.events if e.state == "SCALE_IN"]
        assert asks, [e.state for e in st.vnfm.state.events]
        for e in asks:
            wanted = e.metadata["instances_to_remove"]
            assert wanted and all(0 < n <= 1 for n in wanted.values()), wanted  # max_impacted_members 1
            assert e.metadata["vcpus_needed"] > 0 or e.metadata["memory_mb_needed"] > 0
        assert_cloud_sound(st.cloud, before, detail)


async def test_vnf_own_action_not_done_in_time_falls_back_to_a_move(ts_env: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    """OWN_ACTION: the engine waits the own-action window for the owner (who does nothing here), then moves it."""
    silent = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in PROJECTS]
    async with stack(ts_env, tmp_path, roomy_seed(), silent, skip_time=True) as st:
        await _register(st, {"vnf-batch-0": {"migration_type": "OWN_ACTION", "lead_time": 5}})
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], workflow="vnf", max_parallel_hosts=1,
                             reply_windows={"own_action": 30})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        own = next(i for i in detail.instances if i.name == "vnf-batch-0")
        assert own.action in (InstanceAction.LIVE_MIGRATE, InstanceAction.MIGRATE) and own.action_done, own
        assert "OWN_ACTION did not happen" in (own.action_source or ""), own.action_source
        assert any("OWN_ACTION" in h.detail and "not done by its deadline" in h.detail for h in detail.history), \
            [h.detail for h in detail.history if h.kind == "error"]
