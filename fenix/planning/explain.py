"""Why each host is not done yet: the `holds` text (detail view, stuck reasons) and the `waits` (metrics).

Also sets the decision's `wake_at` from the deadlines it comes across (actions_at, retries, slots freeing).
"""

from __future__ import annotations

from fenix.models.session import MOVE_ACTIONS, InstanceAction
from fenix.planning.model import Decision, HostStep, Inst, Step
from fenix.planning.scale_in import ScaleIn


class Explain(ScaleIn):
    """The holds and waits of every host, and the next deadline, for one decision."""

    def _explain(self, d: Decision, now: float) -> None:
        # Nothing below changes hosts or capacity: hosts in progress and the free room are read once, not per host.
        progress = len(self.in_progress())
        room = self._room()
        for host, step in self.hosts.items():
            why: list[str] = []
            waits: list[tuple[str, str]] = []
            if step == HostStep.PENDING:
                if progress >= self.max_parallel:
                    why.append(f"parallel limit: {progress} of max_parallel_hosts "
                               f"{self.max_parallel} host(s) in progress")
                    waits.append(("parallel_limit", ""))
                elif not self._feasible.get((host, True), self._feasible.get((host, False), True)):
                    why.append("capacity: its instances do not fit on the other hosts "
                               f"({self._shortfall_text(host, room)})")
                    waits.append(("capacity", ""))
                else:
                    why.append("waiting for a host in progress to be maintained (its instances would otherwise "
                               "move twice)")
                    waits.append(("other_host", ""))
            elif step == HostStep.DRAINING:
                for inst in self.on_host(host):
                    text, reason, project = self._instance_hold(inst, now)
                    why.append(text)
                    waits.append((reason, project))
            elif step == HostStep.MAINTAINING:
                why.append("in maintenance (plug-ins, then enabled again)")
                waits.append(("maintenance", ""))
            d.holds[host] = why
            d.waits[host] = list(dict.fromkeys(waits))

    def _wake(self, d: Decision, now: float) -> None:
        """The decision's `wake_at`: the next deadline of an instance on a draining host or a group's slot."""
        for host, step in self.hosts.items():
            if step == HostStep.DRAINING:
                for inst in self.on_host(host):
                    for t in (inst.actions_at, inst.retry_at):
                        if t is not None and t > now:
                            d.wake_at = t if d.wake_at is None else min(d.wake_at, t)
        for g in self.groups:
            for t in self.slot_free_times(g, now):
                if t > now:
                    d.wake_at = t if d.wake_at is None else min(d.wake_at, t)

    def _instance_hold(self, inst: Inst, now: float) -> tuple[str, str, str]:
        """Why `inst` keeps its host: (the held_by line, the reason's short name, the project waited on or "")."""
        name = f"instance {inst.id} ({inst.project_id})"
        if inst.step == Step.ACTING:
            verb = {InstanceAction.OWN_ACTION: "its owner is moving it", InstanceAction.EVICTION: "being evicted"}
            text = f"{name}: {verb.get(inst.action or InstanceAction.MIGRATE, 'moving')}" + (
                f" to {inst.host}" if inst.action in MOVE_ACTIONS else "")
            if inst.action == InstanceAction.OWN_ACTION:
                return text, "own_action", inst.project_id
            return text, "eviction" if inst.action == InstanceAction.EVICTION else "moving", ""
        if inst.step == Step.PENDING and inst.group is not None:
            g = self.groups[inst.group]
            return (f"{name}: group {g.id} budget: {g.max_impacted} of max_impacted_members {g.max_impacted} "
                    f"warned or in flight", "group_budget", g.project_id)
        if inst.step == Step.NOTIFIED:
            if inst.retry_at is not None and now < inst.retry_at:
                return f"{name}: a move failed; tried again at {inst.retry_at:.0f}", "move_retry", ""
            if not inst.replied and inst.undelivered:
                return (f"{name}: its notice has not reached {inst.project_id} yet (its lead time runs from then)",
                        "notice_delivery", inst.project_id)
            if not inst.replied and inst.actions_at is not None and now < inst.actions_at:
                return (f"{name}: waiting for project {inst.project_id}'s reply or its lead time "
                        f"(actions_at in {inst.actions_at - now:.0f} s)", "reply", inst.project_id)
            if inst.group is not None and self.impacted(inst.group, now) >= self.groups[inst.group].max_impacted:
                g = self.groups[inst.group]
                nxt = [t for t in self.slot_free_times(inst.group, now) if t > now]
                when = f"; next slot in {min(nxt) - now:.0f} s (recovery_time)" if nxt else \
                    "; a member is in flight"
                return f"{name}: group {g.id} budget: {g.max_impacted} member(s) impacted{when}", "group_budget", \
                    g.project_id
            return f"{name}: no target host (capacity, anti-affinity or max_instances_per_host)", "capacity", ""
        return f"{name}: pending", "pending", ""
