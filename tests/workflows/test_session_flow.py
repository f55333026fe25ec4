"""Whole sessions through the API, on the time-skipping server, with the sample VNFM over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.scenario import demo_seed
from demo.stack import stack
from demo.vnfm import VnfmProject
from fenix.cloud.simulated import SimGroupSpec, SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import GroupPolicy, MigrationStatus, MigrationType
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound

PROJECTS = ("vnf-ha", "vnf-web", "vnf-batch")


def vnfms(action: InstanceAction = InstanceAction.MIGRATE, **per_project: InstanceAction) -> list[VnfmProject]:
    return [VnfmProject(project_id=p, token="", action=per_project.get(p.replace("-", "_"), action),
                        scale_in_step=2, server_prefix=p, ha_group="vnf-ha-ha" if p == "vnf-ha" else None)
            for p in PROJECTS]


def roomy_seed() -> SimSeed:
    """3 hosts with room to spare: an HA pair and two more instances per project, placed by hand."""
    seed = SimSeed(hosts=[SimHostSpec(name=f"c{i}", vcpus=4, memory_mb=8192) for i in range(3)],
                   groups=[SimGroupSpec(name="vnf-ha-ha", project_id="vnf-ha", policy=GroupPolicy.ANTI_AFFINITY)])
    seed.servers = [SimServerSpec(name="vnf-ha-ha-0", project_id="vnf-ha", vcpus=1, memory_mb=1024, group="vnf-ha-ha",
                                  host="c0"),
                    SimServerSpec(name="vnf-ha-ha-1", project_id="vnf-ha", vcpus=1, memory_mb=1024, group="vnf-ha-ha",
                                  host="c1"),
                    SimServerSpec(name="vnf-web-0", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c0"),
                    SimServerSpec(name="vnf-web-1", project_id="vnf-web", vcpus=1, memory_mb=1024, host="c1"),
                    SimServerSpec(name="vnf-batch-0", project_id="vnf-batch", vcpus=1, memory_mb=1024, host="c2")]
    return seed


async def test_happy_path_full_cloud_scales_in_and_back_out(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, demo_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        sid = await st.start()
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        states = [h.state for h in detail.history if h.kind == "state"]
        assert states[:2] == ["MAINTENANCE", "SCALE_IN"] and states[-2:] == ["MAINTENANCE_COMPLETE",
                                                                            "MAINTENANCE_DONE"]
        assert "PREPARE_MAINTENANCE" in states and "PLANNED_MAINTENANCE" in states
        assert_cloud_sound(st.cloud, before, detail)
        # Every project scaled back out to its original size at MAINTENANCE_COMPLETE.
        after = st.cloud.snapshot()
        for p in PROJECTS:
            assert len([s for s in after.servers if s.project_id == p]) == \
                len([s for s in before.servers if s.project_id == p])
        assert not st.vnfm.state.errors
        # The HA pair's active role was moved away before its instance migrated.
        log = st.cloud.migration_log()
        for sw in st.vnfm.state.switchovers:
            moves = [m for m in log if m.server_id == sw.old_active]
            assert moves and all(sw.at <= m.started_at for m in moves[:1])


async def test_every_instance_action(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms(vnf_ha=InstanceAction.LIVE_MIGRATE, vnf_web=InstanceAction.MIGRATE,
                     vnf_batch=InstanceAction.OWN_ACTION)
    async with stack(ts_env, tmp_path, roomy_seed(), projects) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        log = st.cloud.migration_log()
        by_project = {s.id: s.project_id for s in before.servers}
        kinds = {(by_project.get(m.server_id), m.migration_type) for m in log}
        assert ("vnf-ha", MigrationType.LIVE) in kinds and ("vnf-web", MigrationType.COLD) in kinds
        assert all(p != "vnf-batch" for p, _ in kinds), "OWN_ACTION instances are moved by their owner"
        assert all(m.status in (MigrationStatus.COMPLETED, MigrationStatus.CONFIRMED) for m in log)
        # The OWN_ACTION instance was re-created by its VNFM (same name, new id), not lost.
        after = st.cloud.snapshot()
        assert [s.name for s in after.servers if s.project_id == "vnf-batch"] == ["vnf-batch-0"]
        done = [e for e in st.vnfm.state.events if e.state == "INSTANCE_ACTION_DONE"]
        assert {e.project_id for e in done} == {"vnf-ha", "vnf-web"}
        assert all(isinstance(e.instance_ids, list) and len(e.instance_ids) == 1 for e in done)
        # Instances whose host was maintained later went to a maintained host.
        actions = {i.instance_id: i for i in detail.instances}
        assert all(i.action_done and i.action_source == "reply" for i in actions.values() if i.action)


async def test_reply_timeout_applies_default_action(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms()
    projects[1].behaviour = "silent"  # vnf-web never answers
    async with stack(ts_env, tmp_path, roomy_seed(), projects, skip_time=True) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], default_action="LIVE_MIGRATE",
                             reply_windows={"maintenance": 120, "prepare": 600})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        defaults = [h for h in detail.history if h.kind == "default" and h.project_id == "vnf-web"]
        assert defaults and all("no reply" in h.detail for h in defaults)
        web = [i for i in detail.instances if i.project_id == "vnf-web" and i.action]
        assert web and all(i.action == InstanceAction.LIVE_MIGRATE and i.action_source == "default" for i in web)
        # The deadline was honoured in (skipped) time: the default came after the whole window.
        asks = ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")
        notice = next(h for h in detail.history
                      if h.kind == "notice" and h.project_id == "vnf-web" and h.state in asks)
        default = next(h for h in defaults if h.at > notice.at)
        assert (default.at - notice.at).total_seconds() >= 600
        assert_cloud_sound(st.cloud, before, detail)


async def test_unsubscribed_project_gets_default_at_once(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(), subscribe=["vnf-ha", "vnf-web"]) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], default_action="MIGRATE")
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        batch = detail.project("vnf-batch")
        assert batch.subscribed is False
        defaults = [h for h in detail.history if h.kind == "default" and h.project_id == "vnf-batch"]
        assert defaults and all("no subscription" in h.detail for h in defaults)
        assert_cloud_sound(st.cloud, before, detail)
        moved = [m for m in st.cloud.migration_log()
                 if m.server_id in {s.id for s in before.servers if s.project_id == "vnf-batch"}]
        assert moved and all(m.migration_type == MigrationType.COLD for m in moved)


async def test_nack_ends_session_cleanly(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms()
    projects[0].behaviour, projects[0].nack_state = "nack", "PLANNED_MAINTENANCE"
    async with stack(ts_env, tmp_path, roomy_seed(), projects) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_FAILED
        assert detail.reason and "vnf-ha" in detail.reason and "NACK_PLANNED_MAINTENANCE" in detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        # Projects heard that the maintenance is over, with the result.
        last = [e for e in st.vnfm.state.events if e.state == "MAINTENANCE_COMPLETE"]
        assert {e.project_id for e in last} == set(PROJECTS)


async def test_migration_failure_falls_back_then_fails_cleanly(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        web0 = next(s for s in before.servers if s.name == "vnf-web-0")
        st.cloud.inject_fault("migration", server_id=web0.id, count=1)
        sid = await st.start(hosts=["c0", "c1", "c2"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        fallback = [h for h in detail.history if h.kind == "action" and web0.id in h.detail]
        assert any("retried as the other move" in h.detail for h in fallback)

    (tmp_path / "2").mkdir()
    async with stack(ts_env, tmp_path / "2", roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        web0 = next(s for s in before.servers if s.name == "vnf-web-0")
        st.cloud.inject_fault("migration", server_id=web0.id, count=2)
        sid = await st.start(hosts=["c0", "c1", "c2"], move_retry={"window_s": 0})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_FAILED
        assert detail.reason and web0.id in detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        server = st.cloud.get_server(web0.id)
        assert server.host == web0.host  # rolled back, not lost
        failed = [e for e in st.vnfm.state.events if e.state == "INSTANCE_ACTION_FAILED"]
        assert [e.instance_ids for e in failed] == [[web0.id]]


async def test_failed_moves_are_tried_again_within_the_retry_window(ts_env: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        web0 = next(s for s in before.servers if s.name == "vnf-web-0")
        st.cloud.inject_fault("migration", server_id=web0.id, count=3)  # two rounds' worth of failures
        sid = await st.start(hosts=["c0", "c1", "c2"], move_retry={"window_s": 10, "interval_s": 0.2})
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        notes = [h.detail for h in detail.history if h.kind == "action" and web0.id in h.detail]
        assert any("round 1 failed" in n and "tried again" in n for n in notes), notes
        assert len([m for m in st.cloud.migration_log() if m.server_id == web0.id]) == 4


async def test_abort_mid_session_reenables_hosts(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms()
    projects[1].behaviour = "silent"  # holds the session in PREPARE/PLANNED until we abort
    async with stack(ts_env, tmp_path, roomy_seed(), projects) as st:
        before = st.cloud.snapshot()
        # Time does not skip here (the other VNFMs answer in real time), so MAINTENANCE gets a short window.
        sid = await st.start(hosts=["c0", "c1", "c2"], reply_windows={"maintenance": 1, "prepare": 3600})
        for _ in range(500):
            r = await st.admin.get(f"/maintenance/{sid}/detail")
            if any(h.get("disabled_by_session") for h in r.json()["hosts"]) and \
                    r.json()["state"] in ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE"):
                break
            await asyncio.sleep(0.02)
        assert any(not h.enabled for h in st.cloud.snapshot().hosts)
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json()["aborting"] is True
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_FAILED and detail.aborted
        assert detail.reason == "aborted by the admin"
        assert_cloud_sound(st.cloud, before, detail)
        r = await st.admin.get(f"/maintenance/{sid}")
        assert r.json()["state"] == "MAINTENANCE_FAILED"


async def test_aodh_format_webhooks(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(), fmt="aodh") as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        assert not st.vnfm.state.errors
        assert all(e.reply_status == 200 for e in st.vnfm.state.events if e.reply)
