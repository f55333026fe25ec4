"""Plan preview: run the `vnf` planner (fenix/planning/pacer.py) against a snapshot in simulated time.

The same Pacer that paces a real session decides here; only time is simulated. Assumptions (also returned with
the preview): no project replies early (every instance waits its full lead time), every move takes the cloud's
estimated time, and host plug-ins take `host_maintenance_s`. Pure, but CPU-heavy on a large cloud (seconds), so it
runs in an activity (`simulate_plan`, activities/planning.py), not in workflow code: a workflow task that takes
more than 2 s counts as a deadlock.
"""

from __future__ import annotations

import heapq

from fenix.models.cloud import CloudSnapshot
from fenix.models.constraints import GroupConstraints, InstanceConstraints
from fenix.models.plan import MoveEstimates, PlanInput, PlannedHost, PlannedInstance, PlannedProject, PlanPreview
from fenix.models.session import MOVE_ACTIONS
from fenix.planning.model import allowed_actions
from fenix.planning.pacer import Pacer

MAX_STEPS = 20_000  # a plan that does not end within this many decisions is reported as blocked


def simulate(snap: CloudSnapshot, hosts: list[str], inp: PlanInput, instances: list[InstanceConstraints],
             groups: list[GroupConstraints], est: MoveEstimates, *,
             lookahead: bool = True) -> tuple[Pacer, PlanPreview]:
    pacer = Pacer(snap, hosts, instances=instances, groups=groups, default_action=inp.default_action,
                  max_parallel_hosts=inp.max_parallel_hosts, estimates=est, warn_ahead=inp.warn_ahead,
                  # the rules every new session paces by (workflows/patches.py FAITHFUL_VNFM, ADMISSION_LOOKAHEAD)
                  warn_within_budget=True, lookahead=lookahead, explain=False)  # the preview shows no holds
    maint_s = est.host_maintenance_s if inp.host_maintenance_s is None else inp.host_maintenance_s
    preview = PlanPreview(max_parallel_hosts=inp.max_parallel_hosts)
    start: dict[str, float] = {}
    empty: dict[str, float] = {}
    done: dict[str, float] = {}
    batch_of: dict[str, int] = {}
    planned: dict[str, PlannedInstance] = {}
    events: list[tuple[float, int, str, str]] = []  # (time, seq, kind, id)
    seq = 0
    now = 0.0
    batch = -1
    for _ in range(MAX_STEPS):
        if pacer.done():
            break
        d = pacer.decide(now)
        if d.start:
            batch += 1
        for h in d.start:
            start[h], batch_of[h] = now, batch
        for n in d.notify:
            inst = pacer.insts[n.instance_id]
            action, why = pacer.default_for(inst)
            planned[inst.id] = PlannedInstance(
                instance_id=inst.id, name=inst.name, project_id=inst.project_id, group_id=inst.group, host=inst.host,
                constraints_registered=inst.registered, allowed_actions=allowed_actions(inst), action=action,
                action_reason=why, notify_at_s=now, actions_at_s=n.actions_at, done_at_s=0.0)
        for a in d.act:
            inst = pacer.insts[a.instance_id]
            seq += 1
            heapq.heappush(events, (now + est.duration(a.action, inst.memory_mb), seq, "done", a.instance_id))
            if a.instance_id in planned:
                planned[a.instance_id].target, planned[a.instance_id].start_at_s = a.target, now
        for h in d.maintain:
            empty[h] = now
            seq += 1
            heapq.heappush(events, (now + maint_s, seq, "maintained", h))
        if d.stuck or d.scale_in:
            preview.feasible = False
            preview.blocked = d.stuck or (f"SCALE_IN needed to empty {d.scale_in.host}: short of "  # type: ignore[union-attr]
                                          f"{d.scale_in.vcpus} vCPU / {d.scale_in.memory_mb} MB")  # type: ignore[union-attr]
            if d.scale_in:
                preview.scale_in = {"host": d.scale_in.host, "vcpus": d.scale_in.vcpus,
                                    "memory_mb": d.scale_in.memory_mb, "per_group": d.scale_in.per_group,
                                    "per_project": d.scale_in.per_project}
            break
        upcoming = [t for t in (events[0][0] if events else None, d.wake_at) if t is not None]
        if not upcoming:
            if d.start or d.notify or d.act or d.maintain:
                continue
            preview.feasible, preview.blocked = False, "the plan cannot go on (nothing to wait for)"
            break
        now = max(now, min(upcoming))
        while events and events[0][0] <= now:
            _, _, kind, key = heapq.heappop(events)
            if kind == "done":
                inst = pacer.insts[key]
                moved = inst.action in MOVE_ACTIONS
                # Moves land on their target; an owner's own action or an eviction takes the instance away.
                pacer.action_done(key, now, inst.host if moved else None)
                if key in planned:
                    planned[key].done_at_s = now
            else:
                pacer.host_maintained(key)
                done[key] = now
    else:
        preview.feasible, preview.blocked = False, f"no end after {MAX_STEPS} planning steps"
    preview.hosts = [PlannedHost(host=h, batch=batch_of[h], start_s=start[h], empty_s=empty.get(h, -1.0),
                                 done_s=done.get(h, -1.0), instances=sum(1 for p in planned.values() if p.host == h))
                     for h in pacer.order]
    by_batch: dict[int, list[str]] = {}
    for h in pacer.order:
        by_batch.setdefault(batch_of[h], []).append(h)
    preview.batches = [by_batch[b] for b in sorted(by_batch)]
    projects: dict[str, PlannedProject] = {}
    for p in sorted(planned.values(), key=lambda p: (p.project_id, p.notify_at_s, p.instance_id)):
        projects.setdefault(p.project_id, PlannedProject(project_id=p.project_id)).asked.append(p)
    preview.projects = list(projects.values())
    preview.estimated_duration_s = round(max(done.values(), default=0.0), 1)
    unregistered = sorted({p.project_id for p in planned.values() if not p.constraints_registered})
    if unregistered:
        preview.warnings.append("instances without registered constraints (defaults apply: lead_time "
                                f"120 s, the session's default action) in project(s) {', '.join(unregistered)}")
    preview.assumptions = [
        "no project replies early: every instance waits its full lead_time before its action",
        f"moves take the cloud's estimated time (live {est.live_base_s:g} s + {est.live_mb_per_s:g} MB/s, "
        f"cold {est.cold_base_s:g} s + {est.cold_mb_per_s:g} MB/s); OWN_ACTION {est.own_action_s:g} s",
        f"host plug-ins take {maint_s:g} s per host",
        "the cloud does not change meanwhile (no scaling by the projects)",
    ]
    return pacer, preview
