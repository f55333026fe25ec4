"""The `vnf` workflow with VNFMs that behave as OPNFV Doctor's maintenance VNFM does (the reference Fenix client).

Two projects on four full computes (so SCALE_IN comes first), AODH-format subscriptions, each project with an HA pair
(anti-affinity, one member impacted at a time) and a scale-out group. The VNFMs switch the HA pair's active role on
each notice about the active member, reply with only `{"state", "instance_action"}` (never naming the instance),
and answer HTTP 500 to any state Doctor does not know. Judged from the application's side: which member was active
when it moved, which replies were taken, the order of what each VNFM received.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from demo.vnfm import ConstraintProfile, SampleVnfm, VnfmProject
from fenix.cloud.simulated import SimGroupSpec, SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import GroupPolicy
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound

PROJECTS = ("doc-a", "doc-b")
PER_INSTANCE = ("PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE")


def full_seed() -> SimSeed:
    """4 hosts of 4 vCPU, each holding two 2-vCPU instances: full, so no host can be emptied before a SCALE_IN."""
    hosts = [f"c{i}" for i in range(4)]
    seed = SimSeed(hosts=[SimHostSpec(name=h, vcpus=4, memory_mb=8192) for h in hosts],
                   groups=[SimGroupSpec(name=f"{p}-ha", project_id=p, policy=GroupPolicy.ANTI_AFFINITY)
                           for p in PROJECTS])
    place = {"doc-a": ("c0", "c1", "c2", "c3"), "doc-b": ("c2", "c3", "c0", "c1")}
    for p in PROJECTS:
        ha0, ha1, n0, n1 = place[p]
        seed.servers += [
            SimServerSpec(name=f"{p}-ha-0", project_id=p, vcpus=2, memory_mb=2048, group=f"{p}-ha", host=ha0),
            SimServerSpec(name=f"{p}-ha-1", project_id=p, vcpus=2, memory_mb=2048, group=f"{p}-ha", host=ha1),
            SimServerSpec(name=f"{p}-0", project_id=p, vcpus=2, memory_mb=2048, host=n0),
            SimServerSpec(name=f"{p}-1", project_id=p, vcpus=2, memory_mb=2048, host=n1)]
    return seed


def doctors() -> list[VnfmProject]:
    prof = ConstraintProfile(lead_time=2, recovery_time=1, ha_recovery_time=2, max_impacted_members=2)
    return [VnfmProject(project_id=p, token="", action=InstanceAction.MIGRATE, doctor=True, ha_group=f"{p}-ha",
                        scale_in_step=1, server_prefix=p, flavor_vcpus=2, flavor_memory_mb=2048, constraints=prof)
            for p in PROJECTS]


def active_moves(vnfm: SampleVnfm, moves: list[tuple[str, float]], first_active: dict[str, str]) -> list[str]:
    """Moves of an HA member that began while it was the active one (from the VNFM's own switch-over record)."""
    bad = []
    for server_id, started in moves:
        for project, initial in first_active.items():
            active = initial
            for s in sorted(vnfm.state.switchovers, key=lambda s: s.at):
                if s.project_id == project and s.at <= started:
                    active = s.new_active
            if server_id == active:
                bad.append(f"{project}: {server_id} moved at {started:.2f} while active")
    return bad


async def test_doctor_vnfms_in_the_vnf_workflow(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, full_seed(), doctors(), fmt="aodh", time_scale=0.3) as st:
        before = st.cloud.snapshot()
        ha = {p: sorted(s.id for s in before.servers if s.project_id == p and s.server_group_id) for p in PROJECTS}
        first_active = {p: members[0] for p, members in ha.items()}  # the VNFM's initial active member
        sid = await st.start(workflow="vnf", max_parallel_hosts=2, reply_windows={"maintenance": 30, "scale_in": 60,
                                                                                   "complete": 30})
        detail = await st.result(sid, timeout=150)
        assert detail.state == SessionState.MAINTENANCE_DONE, (detail.reason, detail.history[-8:])
        assert_cloud_sound(st.cloud, before, detail, removed_ok={f"{p}-1" for p in PROJECTS})
        events = st.vnfm.state.events

        # 1. The active HA member is never moved while active.
        ha_ids = {i for members in ha.values() for i in members}
        moves = [(m.server_id, m.started_at) for m in st.cloud.migration_log() if m.server_id in ha_ids]
        assert moves, "no HA member moved: the test proves nothing"
        assert active_moves(st.vnfm, moves, first_active) == []

        # 2. Every reply landed on the instance it was about: all taken (200), none defaulted.
        replies = [e for e in events if e.reply is not None]
        assert replies and all(e.reply_status == 200 for e in replies), [(e.state, e.reply_status) for e in replies]
        assert not st.vnfm.state.errors, st.vnfm.state.errors
        acted = [i for i in detail.instances if i.action is not None]
        assert acted and all(i.action_source == "reply" for i in acted), [(i.name, i.action_source) for i in acted]

        # 3. SCALE_IN comes before any per-instance notice: no project is told to prepare an instance before the
        # session has asked for the room it needs, and a project asked to scale in hears of its instances only
        # after that. (Which projects are asked depends on the room the session finds: usually both; under a
        # heavily loaded machine one project's answer was seen to be enough, which is right too.)
        asked = [p for p in PROJECTS if any(e.state == "SCALE_IN" for e in events if e.project_id == p)]
        assert asked, [(e.project_id, e.state) for e in events]
        first_scale_in = min(e.at for e in events if e.state == "SCALE_IN")
        assert all(e.at >= first_scale_in for e in events if e.state in PER_INSTANCE)
        for p in asked:
            states = [e.state for e in events if e.project_id == p]
            first_notice = min(states.index(s) for s in PER_INSTANCE if s in states)
            assert states.index("SCALE_IN") < first_notice, states

        # 4. A Doctor-era VNFM is never sent a state it cannot parse (it would answer 500).
        assert not [e for e in events if e.reply_status == 500], [e.state for e in events if e.reply_status == 500]
