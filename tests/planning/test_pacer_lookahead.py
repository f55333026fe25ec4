"""The vnf planner's look-ahead warnings (fenix/planning/pacer.py `lookahead`), on tiny clouds through the preview's
simulation: the same Pacer that paces a session, with simulated time.

Cloud: one spare host and two full ones. Each full host holds a member of group `crit` (long lead time) and an
ungrouped filler. The spare has room for one host's instances only, so the second host can start only once the
first is maintained."""

from __future__ import annotations

from fenix.models.cloud import CloudSnapshot, ComputeHost, Server
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceMigrationType
from fenix.models.plan import MoveEstimates, PlanInput, PlanPreview
from fenix.planning.preview import simulate

LEAD = 90
EST = MoveEstimates()


def cloud(second_fits: bool = True) -> CloudSnapshot:
    big = 2 if second_fits else 6  # a filler that no host can ever take
    hosts = [ComputeHost(name="h0", vcpus=4, memory_mb=8192),
             ComputeHost(name="h1", vcpus=4, vcpus_used=4, memory_mb=8192, memory_mb_used=2048),
             ComputeHost(name="h2", vcpus=8, vcpus_used=2 + big, memory_mb=8192, memory_mb_used=2048)]
    servers = [Server(id="crit-a", name="crit-a", project_id="p", host="h1", vcpus=2, memory_mb=512),
               Server(id="fill-a", name="fill-a", project_id="q", host="h1", vcpus=2, memory_mb=512),
               Server(id="crit-b", name="crit-b", project_id="p", host="h2", vcpus=2, memory_mb=512),
               Server(id="fill-b", name="fill-b", project_id="q", host="h2", vcpus=big, memory_mb=512)]
    return CloudSnapshot(hosts=hosts, servers=servers)


def plan(snap: CloudSnapshot, *, lookahead: bool, max_impacted: int = 2) -> PlanPreview:
    crit = [InstanceConstraints(instance_id=i, project_id="p", group_id="crit", lead_time=LEAD,
                                migration_type=InstanceMigrationType.LIVE_MIGRATE) for i in ("crit-a", "crit-b")]
    fill = [InstanceConstraints(instance_id=i, project_id="q", lead_time=10,
                                migration_type=InstanceMigrationType.LIVE_MIGRATE) for i in ("fill-a", "fill-b")]
    groups = [GroupConstraints(group_id="crit", project_id="p", max_impacted_members=max_impacted, recovery_time=0)]
    inp = PlanInput(max_parallel_hosts=2, warn_ahead=True)
    _, preview = simulate(snap, ["h0", "h1", "h2"], inp, crit + fill, groups, EST, lookahead=lookahead)
    return preview


def asked(preview: PlanPreview, iid: str) -> float:
    return next(a.notify_at_s for p in preview.projects for a in p.asked if a.instance_id == iid)


def started(preview: PlanPreview, host: str) -> float:
    return next(h.start_s for h in preview.hosts if h.host == host)


def test_a_member_on_a_host_that_starts_later_is_warned_so_its_lead_time_ends_as_the_host_starts() -> None:
    without, with_ = plan(cloud(), lookahead=False), plan(cloud(), lookahead=True)
    # Without the look-ahead, crit-b is warned only once h2 may be emptied (h1 maintained): a second lead time.
    assert asked(without, "crit-b") >= started(without, "h2") > LEAD
    # With it, crit-b's lead time runs while h1 drains: warned before h2 starts, and not more than its lead time
    # before (a member warned earlier would hold its group's slot for nothing).
    h2 = started(with_, "h2")
    assert h2 - LEAD <= asked(with_, "crit-b") < h2
    assert with_.estimated_duration_s < without.estimated_duration_s - LEAD / 2
    assert with_.feasible and without.feasible


def test_the_look_ahead_keeps_the_group_budget() -> None:
    # One member impacted at a time: crit-b may not be warned while crit-a is warned or moving.
    preview = plan(cloud(), lookahead=True, max_impacted=1)
    a_done = next(a.done_at_s for p in preview.projects for a in p.asked if a.instance_id == "crit-a")
    assert asked(preview, "crit-b") >= a_done


def test_no_warning_ahead_of_a_host_that_will_never_fit() -> None:
    # h2's filler fits nowhere, even with h1 maintained: a SCALE_IN comes first, so nobody on h2 is told to prepare.
    preview = plan(cloud(second_fits=False), lookahead=True)
    assert not preview.feasible and preview.scale_in is not None
    assert all(a.instance_id not in ("crit-b", "fill-b") for p in preview.projects for a in p.asked)
