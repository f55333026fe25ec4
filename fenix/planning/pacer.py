"""The `vnf` session's planner: which hosts to empty now, which instance to warn and to act on, and why not.

Pure and deterministic (no I/O, no clock of its own: `now` is passed in, in seconds), so the same code paces a
running session (workflows/vnf.py) and simulates one for the plan preview (fenix/planning/preview.py).

How it decides (docs/constraints.md, "How the vnf workflow paces"):

* A group has `max_impacted_members` slots. A member holds one from the start of its action until
  `recovery_time` after the action is done. A member is warned (notified) only while fewer than
  `max_impacted_members` members of its group are warned-but-waiting or acting, so a VNFM is never told to
  prepare while the group's budget is all in use by moves in flight; its `actions_at` is the later of
  `lead_time` from now and the moment a slot frees. It acts at its ACK or at `actions_at`, whichever is
  first, and never before a slot is free.
* Hosts are admitted (disabled and emptied) up to `max_parallel_hosts` at once. Empty hosts go first; then hosts
  whose instances all fit on maintained hosts or hosts outside the session (they move only once); a host whose
  instances would have to land on hosts still to be maintained (and so move twice) is admitted only when
  nothing else is in progress. Among equals, the host holding members of the group with the longest remaining
  chain of moves goes first: that group is the critical path.
* Targets respect free capacity, Nova anti-affinity groups, `anti_affinity_group` and `max_instances_per_host`
  (a member in flight counts on both its source and its target, as Nova claims both).
"""

from __future__ import annotations

from itertools import islice

from fenix.models.session import MOVE_ACTIONS
from fenix.planning.explain import Explain
from fenix.planning.forecast import Forecast
from fenix.planning.model import Act, Decision, HostStep, Notify, Step, allowed_actions
from fenix.planning.urgency import Urgency


class Pacer(Explain, Urgency, Forecast):
    """The planner's state for one session; `decide(now)` commits and returns what to do next.

    The parts it is made of, each a module of `fenix.planning`: `PlanState` (the state and its events), `Targets`
    (placement), `Forecast` (the admission look-ahead), `Urgency` (host ranking), `ScaleIn` and `Explain`.
    """

    def decide(self, now: float) -> Decision:
        d = Decision()
        self._feasible, self._chains, self._served_now, self._rank_keys = {}, {}, {}, {}
        self._maintain_drained(d)
        self._admit(d, now)
        self._notify(d, now)
        self._act(d, now)
        self._maintain_drained(d)
        if self.explain:
            self._explain(d, now)
        self._wake(d, now)
        if not d.start and not d.notify and not d.act and not d.maintain and not self.in_progress() \
                and not self.done():
            need = self._scale_in_need()
            if need is not None:
                d.scale_in = need
            else:
                if not self.explain:
                    # The reason names every host's holds, as a session's would: try each placement as _notify does
                    # with explain on (nothing changed since, as nothing was decided).
                    if self.warn_within_budget and self.warn_ahead:
                        for h in self.hosts:
                            if self.hosts[h] == HostStep.PENDING:
                                self._placeable(h, double_moves=False)
                    self._explain(d, now)
                d.stuck = "no host can be emptied: " + "; ".join(
                    f"{h}: {', '.join(r)}" for h, r in sorted(d.holds.items()) if r)
        return d

    def _maintain_drained(self, d: Decision) -> None:
        for host in list(self.hosts):
            if self.hosts[host] == HostStep.DRAINING and not self.on_host(host):
                self.hosts[host] = HostStep.MAINTAINING
                self._version += 1
                d.maintain.append(host)

    def _admit(self, d: Decision, now: float) -> None:
        pending = [h for h, s in self.hosts.items() if s == HostStep.PENDING]
        if self._no_room_epoch == self._epoch and not any(not self.on_host(h) for h in pending):
            return  # nothing freed capacity since no host could be admitted
        while pending and len(self.in_progress()) < self.max_parallel:
            empty = sorted(h for h in pending if not self.on_host(h))
            choice: str | None = empty[0] if empty else None
            if choice is None:
                ranked = self._rank(pending, now)
                for h in ranked:  # the most urgent host whose instances move only once
                    if self._placeable(h, double_moves=False):
                        choice = h
                        break
                if choice is None and not self.in_progress():  # bootstrap: nothing maintained has room yet
                    choice = next((h for h in ranked if self._placeable(h, double_moves=True)), None)
                if choice is None:
                    self._no_room_epoch = self._epoch
                    return
            self.hosts[choice] = HostStep.DRAINING
            self._version += 1
            self.order.append(choice)
            d.start.append(choice)
            pending.remove(choice)
            self._feasible = {}

    def _notify(self, d: Decision, now: float) -> None:
        """Warn instances on draining hosts, then (ahead of time) those on the hosts most likely to start next.

        Warning ahead lets lead times run while the current hosts drain. A member warned ahead never takes a
        draining host's member's place: the budget for members on draining hosts counts only those.
        """
        draining = [h for h in self.order if self.hosts[h] == HostStep.DRAINING]
        candidates = [i for h in draining for i in self.on_host(h) if i.step == Step.PENDING]
        candidates.sort(key=lambda i: (-(self._chain(i.group) if i.group else 0.0), draining.index(i.host), i.id))
        pending = [h for h, s in self.hosts.items() if s == HostStep.PENDING]
        ahead = self._rank(pending, now)[: self.max_parallel] if self.warn_ahead else []
        eta: dict[str, float] = {}
        if self.warn_within_budget and self.warn_ahead:
            # Warn ahead only on hosts that can be emptied now, onto maintained hosts: they are the ones admitted
            # next (a warned member holds its group's slot until it moves), and a host that cannot be emptied may
            # first need a SCALE_IN, whose projects must not be told to prepare instances they are about to delete.
            ranked = self._rank(pending, now)
            # With explain on, the holds tell every pending host's placeability: each is tried. Without, only the
            # first few are needed (trying each, every decision, made a plan preview at size take minutes).
            found = (h for h in ranked if self._placeable(h, double_moves=False))
            ahead = list(found)[: self.max_parallel] if self.explain else list(islice(found, self.max_parallel))
            if self.lookahead:
                eta = self._admission_etas([h for h in ranked if h not in ahead], ahead, now)
                ahead += list(eta)
        asking = {i.project_id for i in self.insts.values()
                  if i.step == Step.NOTIFIED and not i.replied and i.project_id in self.serial_projects}
        early = [i for h in ahead for i in self.on_host(h) if i.step == Step.PENDING]
        early.sort(key=lambda i: (ahead.index(i.host), i.id))
        blocked = {i.group for i in candidates if i.group is not None}
        for inst in candidates + [i for i in early if i.group not in blocked]:
            on_draining = self.hosts.get(inst.host) == HostStep.DRAINING
            if inst.host in eta and now + inst.lead_s < eta[inst.host]:
                # Its host is not expected to start before its lead time would have run out: warn it then.
                wake = eta[inst.host] - inst.lead_s
                d.wake_at = wake if d.wake_at is None else min(d.wake_at, wake)
                continue
            at = now + inst.lead_s
            if inst.project_id in asking:
                continue  # its project answers without naming instances: one question at a time
            if inst.group is not None and self.warn_within_budget:
                g = self.groups[inst.group]
                warned = sum(1 for i in self.members(inst.group) if i.step == Step.NOTIFIED)
                if warned + self.impacted(inst.group, now) >= g.max_impacted:
                    if on_draining:
                        blocked.add(inst.group)
                    continue
            elif inst.group is not None:
                waiting = sum(1 for i in self.members(inst.group) if i.step == Step.NOTIFIED
                              and (not on_draining or self.hosts.get(i.origin) != HostStep.PENDING))
                if waiting >= self._depth(inst.group):
                    if on_draining:
                        blocked.add(inst.group)
                    continue
                slots = self.slot_free_times(inst.group, now)
                at = max(at, slots[waiting] if waiting < len(slots) else now)
            inst.step, inst.notified_at, inst.actions_at = Step.NOTIFIED, now, at
            inst.undelivered = self.lead_from_delivery
            if inst.project_id in self.serial_projects:
                asking.add(inst.project_id)
            d.notify.append(Notify(instance_id=inst.id, actions_at=at, allowed=allowed_actions(inst)))

    def _act(self, d: Decision, now: float) -> None:
        ready = [i for i in self.insts.values() if i.step == Step.NOTIFIED]
        ready.sort(key=lambda i: (i.actions_at or now, i.id))
        for inst in ready:
            if self.hosts.get(inst.origin) != HostStep.DRAINING and self.hosts.get(inst.host) != HostStep.DRAINING:
                continue  # warned ahead; its host has not started yet
            if not (inst.replied or (not inst.undelivered and inst.actions_at is not None and now >= inst.actions_at)):
                continue
            if inst.retry_at is not None and now < inst.retry_at:
                continue
            if inst.group is not None:
                g = self.groups[inst.group]
                if inst.done_at is not None and now < inst.done_at + g.recovery_s:
                    continue  # it moved moments ago (onto a host still to do): it recovers before it moves again
                if self.impacted(inst.group, now) >= g.max_impacted:
                    continue
            action = inst.action
            if action is None:
                action, why = self.default_for(inst)
                inst.action_source = f"default: {why}"
            target = None
            if action in MOVE_ACTIONS:
                target = self.choose_target(inst)
                if target is None:
                    continue
                self._free[target][0] -= inst.vcpus
                self._free[target][1] -= inst.memory_mb
                inst.source, inst.host = inst.host, target
            else:
                inst.source = inst.host
            inst.action, inst.step, inst.retry_at = action, Step.ACTING, None
            self._by_host = None
            self._version += 1
            d.act.append(Act(instance_id=inst.id, action=action, target=target))
