"""The planner's view of one session: hosts, instances, groups and free capacity, and the events that change it.

`PlanState` is the base of the planner's parts (targets, forecast, urgency, scale_in, explain, pacer): they add
decisions, this holds the state they decide from and answers the queries they share. Nothing here decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from fenix.models.cloud import CloudSnapshot, GroupPolicy, ServerStatus
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceFields
from fenix.models.plan import MoveEstimates
from fenix.models.session import MOVE_ACTIONS, InstanceAction
from fenix.planning.bestfit import BestFit
from fenix.planning.model import HostStep, Inst, Step, group_from


class PlanState:
    """One session's hosts, instances, groups and free capacity as the planner tracks them, and its options."""

    def __init__(self, snapshot: CloudSnapshot, session_hosts: list[str], *, instances: Iterable[InstanceConstraints],
                 groups: Iterable[GroupConstraints], default_action: InstanceAction, max_parallel_hosts: int,
                 estimates: MoveEstimates | None = None, default_fields: InstanceFields | None = None,
                 warn_ahead: bool = True, lead_from_delivery: bool = False,
                 warn_within_budget: bool = False, lookahead: bool = False, explain: bool = True) -> None:
        self.est = estimates or MoveEstimates()
        self.max_parallel = max(1, max_parallel_hosts)
        self.warn_ahead = warn_ahead  # False: warn only when a host starts (Fenix's way; the benchmark's baseline)
        # True: a warned instance's lead time starts when its notice is delivered (`delivered`), not when it is sent.
        self.lead_from_delivery = lead_from_delivery
        # True: a warned member counts against its group's budget from its warning on, as the application sees it
        # (a VNFM switches an HA pair's active role at the notice): warned + acting + recovering members never
        # exceed max_impacted_members, so the next member is warned only once the previous one has recovered.
        # False: the budget counts from the action (histories of sessions started before this rule).
        self.warn_within_budget = warn_within_budget
        # True (with warn_within_budget): also warn ahead on hosts that cannot be emptied yet, when the forecast
        # (`_admission_etas`) says they start before the warned member's lead time runs out. Otherwise a group
        # with long lead times starts with only the members on the first hosts the spare room allows, and each
        # round of it waits out its lead time again: the makespan grows by a lead time per under-filled round.
        self.lookahead = lookahead
        # False (the plan preview): decisions leave out why each host waits (`holds`, `waits`) unless the session is
        # stuck, so a decision need not try every pending host's placement, only the few it warns ahead.
        self.explain = explain
        # Projects whose replies do not name the instance (Fenix-era VNFMs): at most one of their instances waits
        # for a reply at a time, so a bare reply can only mean that one.
        self.serial_projects: set[str] = set()
        self.default_action = default_action
        self._defaults = default_fields or InstanceFields()
        self.hosts: dict[str, HostStep] = dict.fromkeys(session_hosts, HostStep.PENDING)
        self.order: list[str] = []  # hosts in the order they were admitted
        self.groups = {g.group_id: group_from(g) for g in groups}
        self._constraints = {c.instance_id: c for c in instances}
        self.insts: dict[str, Inst] = {}
        self._enabled: dict[str, bool] = {}
        self._skipped: set[str] = set()  # failed hosts the operator chose to leave disabled (never a target)
        self._free: dict[str, list[int]] = {}
        self._nova_peers: dict[str, set[str]] = {}
        self._members: dict[str, list[Inst]] = {}
        self._feasible: dict[tuple[str, bool], bool] = {}  # placeability per host, valid within one decide()
        # _plan_fits' hosts in progress and free room, per (_version, double_moves): the same for every host tried.
        self._fit_bases: dict[tuple[int, bool], tuple[list[str], BestFit]] = {}
        # Ranking inputs, computed once per decide() (heuristics: a little staleness within one decision is fine;
        # decide() runs in workflow code at every event, also on replay, so it must stay cheap).
        self._chains: dict[str, float] = {}
        self._served_now: dict[str, bool] = {}
        self._rank_keys: dict[str, tuple[int, float, float, int, str]] = {}  # _rank's keys, per decide()
        self._depths: dict[str, int] = {}
        self._by_id: list[Inst] = []  # _ordered()
        self._by_host: dict[str, list[Inst]] | None = None  # on_host() index; None after any move of an instance
        self._epoch = 0  # bumped whenever capacity may have changed
        self._no_room_epoch = -1  # the epoch at which no pending host could be admitted
        self._version = 0  # bumped at any change of hosts, instances or capacity (keys _fit_cache)
        self._fit_cache: dict[tuple[int, str, tuple[str, ...], tuple[str, ...]], bool] = {}
        self.refresh(snapshot)

    # --- cloud view ------------------------------------------------------------------------------------
    def refresh(self, snap: CloudSnapshot) -> None:
        """Take in a fresh snapshot: new and vanished servers, capacity, Nova anti-affinity groups."""
        self._enabled = {h.name: h.up and (h.enabled or h.name in self.hosts) and h.name not in self._skipped
                         for h in snap.hosts}
        self._free = {h.name: [h.vcpus_free, h.memory_mb_free] for h in snap.hosts}
        self._nova_peers = {}
        for g in snap.server_groups:
            if g.policy == GroupPolicy.ANTI_AFFINITY:
                for m in g.members:
                    self._nova_peers[m] = set(g.members) - {m}
        seen = set()
        for s in snap.servers:
            seen.add(s.id)
            inst = self.insts.get(s.id)
            if inst is None:
                if s.host not in self.hosts or self.hosts[s.host] == HostStep.DONE:
                    if s.host is not None:  # outside the session or on a maintained host: only a placement peer
                        self.insts[s.id] = self._inst(s.id, s.name, s.project_id, s.host, s.vcpus, s.memory_mb,
                                                      step=Step.DONE)
                    continue
                self.insts[s.id] = self._inst(s.id, s.name, s.project_id, s.host or "", s.vcpus, s.memory_mb)
            elif inst.step != Step.ACTING and s.host is not None:
                inst.host = s.host
                self._rehome(inst)
            elif inst.step == Step.ACTING and inst.action in MOVE_ACTIONS \
                    and s.host == inst.source and s.status == ServerStatus.ACTIVE and inst.host in self._free:
                # Decided, but the cloud has not started the move yet (so it claims nothing on the target yet):
                # keep the room reserved, or the next decision could promise it to another instance.
                self._free[inst.host][0] -= inst.vcpus
                self._free[inst.host][1] -= inst.memory_mb
        self._moved()
        for inst in self.insts.values():
            if inst.id not in seen and inst.step != Step.DONE:
                inst.step, inst.host = Step.DONE, ""  # deleted (scaled in, or re-created by its owner)
            elif inst.id not in seen:
                inst.host = ""
        self._index()

    def _index(self) -> None:
        self._moved()
        self._members = {}
        for inst in self._ordered():
            if inst.group is not None:
                self._members.setdefault(inst.group, []).append(inst)
        self._feasible = {}
        self._depths = {}

    def _inst(self, iid: str, name: str, project: str, host: str, vcpus: int, mem: int, *,
              step: Step = Step.PENDING) -> Inst:
        c = self._constraints.get(iid)
        f: InstanceFields = c if c is not None else self._defaults
        group = c.group_id if c is not None and c.group_id in self.groups else None
        mtype = InstanceAction(f.migration_type.value) if c is not None else self.default_action
        return Inst(id=iid, name=name, project_id=project, host=host, vcpus=vcpus, memory_mb=mem, group=group,
                    lead_s=float(f.lead_time), max_interruption_s=float(f.max_interruption_time),
                    migration_type=mtype, registered=c is not None, origin=host, step=step)

    def update_constraints(self, instances: Iterable[InstanceConstraints], groups: Iterable[GroupConstraints]) -> None:
        """New constraints apply to instances not yet warned (a warned instance keeps what it was told)."""
        self._constraints = {c.instance_id: c for c in instances}
        self.groups = {g.group_id: group_from(g) for g in groups}
        for inst in self.insts.values():
            if inst.step == Step.PENDING:
                fresh = self._inst(inst.id, inst.name, inst.project_id, inst.host, inst.vcpus, inst.memory_mb)
                inst.group, inst.lead_s, inst.max_interruption_s = fresh.group, fresh.lead_s, fresh.max_interruption_s
                inst.migration_type, inst.registered = fresh.migration_type, fresh.registered
        for inst in self.insts.values():
            if inst.group is not None and inst.group not in self.groups:
                inst.group = None  # its group's constraints were deleted: it is paced as ungrouped
        self._index()

    # --- events ----------------------------------------------------------------------------------------
    def delivered(self, iid: str, at: float | None) -> float | None:
        """The instance's notice reached its project at `at` (None: it reached nobody, the default applies at the
        planned time). Returns its `actions_at`: not before `at` plus its lead time."""
        inst = self.insts[iid]
        if inst.undelivered and inst.step == Step.NOTIFIED:
            inst.undelivered = False
            if at is not None and inst.actions_at is not None:
                inst.actions_at = max(inst.actions_at, at + inst.lead_s)
        return inst.actions_at

    def replied(self, iid: str, action: InstanceAction | None) -> None:
        inst = self.insts[iid]
        inst.replied = True
        if action is not None:
            inst.action, inst.action_source = action, "reply"

    def action_done(self, iid: str, now: float, host: str | None) -> None:
        inst = self.insts[iid]
        if inst.source is not None and inst.source in self._free and inst.action in MOVE_ACTIONS:
            self._free[inst.source][0] += inst.vcpus
            self._free[inst.source][1] += inst.memory_mb
        inst.step, inst.done_at, inst.source = Step.DONE, now, None
        inst.host = host or ""
        self._rehome(inst)
        self._moved()

    def _rehome(self, inst: Inst) -> None:
        """An instance that landed on a session host still to be maintained must leave it again later: it is
        pending there, and will be warned and paced anew (its recovery from this move still counts)."""
        if inst.step == Step.DONE and self.hosts.get(inst.host) in (HostStep.PENDING, HostStep.DRAINING):
            inst.step, inst.origin = Step.PENDING, inst.host
            inst.notified_at = inst.actions_at = inst.retry_at = None
            inst.replied, inst.action, inst.action_source = False, None, ""

    def action_failed(self, iid: str, now: float, retry_after_s: float) -> None:
        """Back to NOTIFIED (already warned); tried again, maybe elsewhere, after `retry_after_s`."""
        inst = self.insts[iid]
        if inst.source is not None:
            if inst.host in self._free:
                self._free[inst.host][0] += inst.vcpus
                self._free[inst.host][1] += inst.memory_mb
            inst.host = inst.source
        inst.step, inst.source, inst.failures = Step.NOTIFIED, None, inst.failures + 1
        inst.retry_at = now + retry_after_s
        inst.done_at = now  # its impact ended now: the group's recovery time applies from here
        self._moved()

    def host_maintained(self, host: str) -> None:
        self.hosts[host] = HostStep.DONE
        self._moved()

    def host_skipped(self, host: str) -> None:
        """The host failed and the operator skipped it: done for the session, left disabled, never a target."""
        self._skipped.add(host)
        self._enabled[host] = False
        self.host_maintained(host)

    def retiring(self, hosts: list[str]) -> None:
        """A `retire` session's hosts: their capacity never comes back, so none is ever a target (instances land
        outside the session only, and the scale-in ask counts on nothing the session takes away)."""
        self._skipped.update(hosts)
        self._enabled.update(dict.fromkeys(hosts, False))
        self._moved()

    # --- queries ---------------------------------------------------------------------------------------
    def on_host(self, host: str) -> list[Inst]:
        """Instances the session must get off `host` (still there or on their way)."""
        if self._by_host is None:
            index: dict[str, list[Inst]] = {}
            for i in self._ordered():
                if i.step != Step.DONE:  # on its host, and on its source while it leaves (no set per instance)
                    if i.host:
                        index.setdefault(i.host, []).append(i)
                    if i.source and i.source != i.host:
                        index.setdefault(i.source, []).append(i)
            self._by_host = index
        return list(self._by_host.get(host, []))

    def _ordered(self) -> list[Inst]:
        """The instances by id. Sorted again only when one was added: instances are never removed (a gone one is
        DONE), and the index of on_host() is rebuilt after every move, where sorting 10,000 each time was the cost."""
        if len(self._by_id) != len(self.insts):
            self._by_id = sorted(self.insts.values(), key=lambda i: i.id)
        return self._by_id

    def _moved(self) -> None:
        self._by_host = None
        self._epoch += 1
        self._version += 1

    def done(self) -> bool:
        return all(s == HostStep.DONE for s in self.hosts.values())

    def in_progress(self) -> list[str]:
        return [h for h, s in self.hosts.items() if s in (HostStep.DRAINING, HostStep.MAINTAINING)]

    def members(self, group: str) -> list[Inst]:
        return self._members.get(group, [])

    def impacted(self, group: str, now: float) -> int:
        """Members holding a slot: acting, or done less than recovery_time ago."""
        g = self.groups[group]
        return sum(1 for i in self.members(group)
                   if i.step == Step.ACTING or (i.done_at is not None and now < i.done_at + g.recovery_s))

    def slot_free_times(self, group: str, now: float) -> list[float]:
        """When each slot that is not held by a member in flight becomes free (now, or a recovery's end)."""
        g = self.groups[group]
        busy = [i.done_at + g.recovery_s for i in self.members(group)
                if i.step != Step.ACTING and i.done_at is not None and now < i.done_at + g.recovery_s]
        acting = sum(1 for i in self.members(group) if i.step == Step.ACTING)
        free = max(0, g.max_impacted - acting - len(busy))
        return sorted([now] * free + busy)[: max(0, g.max_impacted - acting)]

    def default_for(self, inst: Inst) -> tuple[InstanceAction, str]:
        """The instance's migration_type, unless a cold move would interrupt it longer than it tolerates."""
        action = inst.migration_type
        cold = self.est.interruption(InstanceAction.MIGRATE, inst.memory_mb)
        if action == InstanceAction.MIGRATE and cold > inst.max_interruption_s and \
                self.est.interruption(InstanceAction.LIVE_MIGRATE, inst.memory_mb) < cold:
            return InstanceAction.LIVE_MIGRATE, (
                f"LIVE_MIGRATE: a cold move would interrupt it ~{self.est.interruption(action, inst.memory_mb):.0f} s, "
                f"more than its max_interruption_time {inst.max_interruption_s:.0f} s")
        return action, f"its migration_type {action.value}" if inst.registered else "the session's default action"
