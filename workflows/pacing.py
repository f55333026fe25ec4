"""The `vnf` session's planner: which hosts to empty now, which instance to warn and to act on, and why not.

Pure and deterministic (no I/O, no clock of its own: `now` is passed in, in seconds), so the same code paces a
running session (workflows/vnf.py) and simulates one for the plan preview (workflows/preview.py).

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

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from fenix.models.cloud import CloudSnapshot, GroupPolicy, ServerStatus
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceFields
from fenix.models.plan import MoveEstimates
from fenix.models.session import MOVE_ACTIONS, InstanceAction


class Step(StrEnum):
    PENDING = "pending"  # not yet warned
    NOTIFIED = "notified"  # warned; acts at its ACK or actions_at, once its group has a free slot
    ACTING = "acting"  # being moved / evicted / handled by its owner
    DONE = "done"  # off its host (or gone)


class HostStep(StrEnum):
    PENDING = "pending"
    DRAINING = "draining"  # disabled, instances leaving
    MAINTAINING = "maintaining"  # empty; plug-ins run, then it is enabled again
    DONE = "done"


@dataclass
class Group:
    id: str
    project_id: str
    max_impacted: int = 1
    recovery_s: float = 0.0
    anti_affinity: bool = False
    max_per_host: int = 0  # 0: no limit
    mitigation: bool = True  # keep its capacity: scaled in only after groups that do not ask for it


@dataclass
class Inst:
    id: str
    name: str
    project_id: str
    host: str  # where it is now (its target once a move starts)
    vcpus: int
    memory_mb: int
    group: str | None
    lead_s: float
    max_interruption_s: float
    migration_type: InstanceAction
    registered: bool  # constraints were registered for it
    origin: str = ""  # the session host it must leave
    step: Step = Step.PENDING
    notified_at: float | None = None
    actions_at: float | None = None
    replied: bool = False
    undelivered: bool = False  # warned, but the notice has not reached its project: its lead time has not begun
    action: InstanceAction | None = None
    action_source: str = ""  # "reply" or "default: ..." (why)
    source: str | None = None  # while acting: the host it leaves
    done_at: float | None = None
    retry_at: float | None = None
    failures: int = 0


@dataclass
class Act:
    instance_id: str
    action: InstanceAction
    target: str | None  # None for OWN_ACTION and EVICTION


@dataclass
class Notify:
    instance_id: str
    actions_at: float
    allowed: list[InstanceAction]


@dataclass
class ScaleInNeed:
    host: str  # the host that could be emptied once this much is freed
    vcpus: int
    memory_mb: int
    per_group: dict[str, int] = field(default_factory=dict)  # group id -> members to remove (<= max impacted)
    per_project: dict[str, int] = field(default_factory=dict)  # ungrouped instances per project


@dataclass
class Decision:
    start: list[str] = field(default_factory=list)
    notify: list[Notify] = field(default_factory=list)
    act: list[Act] = field(default_factory=list)
    maintain: list[str] = field(default_factory=list)
    wake_at: float | None = None
    holds: dict[str, list[str]] = field(default_factory=dict)
    # The same, as (reason, project waited on or "") for the metrics (fenix/models/gauges.py HostWait).
    waits: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    scale_in: ScaleInNeed | None = None
    stuck: str | None = None  # nothing in progress and nothing can start: the session cannot go on


def _group(g: GroupConstraints) -> Group:
    return Group(id=g.group_id, project_id=g.project_id, max_impacted=g.max_impacted_members,
                 recovery_s=float(g.recovery_time), anti_affinity=g.anti_affinity_group,
                 max_per_host=g.max_instances_per_host, mitigation=g.resource_mitigation)


def allowed_actions(inst: Inst) -> list[InstanceAction]:
    """What a project may choose for an instance: the engine's moves and its own action; eviction only with consent."""
    allowed = [InstanceAction.MIGRATE, InstanceAction.LIVE_MIGRATE, InstanceAction.OWN_ACTION]
    if inst.migration_type == InstanceAction.EVICTION:
        allowed.append(InstanceAction.EVICTION)
    return allowed


class Pacer:
    """The planner's state for one session; `decide(now)` commits and returns what to do next."""

    def __init__(self, snapshot: CloudSnapshot, session_hosts: list[str], *, instances: Iterable[InstanceConstraints],
                 groups: Iterable[GroupConstraints], default_action: InstanceAction, max_parallel_hosts: int,
                 estimates: MoveEstimates | None = None, default_fields: InstanceFields | None = None,
                 warn_ahead: bool = True, lead_from_delivery: bool = False,
                 warn_within_budget: bool = False, lookahead: bool = False) -> None:
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
        # Projects whose replies do not name the instance (Fenix-era VNFMs): at most one of their instances waits
        # for a reply at a time, so a bare reply can only mean that one.
        self.serial_projects: set[str] = set()
        self.default_action = default_action
        self._defaults = default_fields or InstanceFields()
        self.hosts: dict[str, HostStep] = dict.fromkeys(session_hosts, HostStep.PENDING)
        self.order: list[str] = []  # hosts in the order they were admitted
        self.groups = {g.group_id: _group(g) for g in groups}
        self._constraints = {c.instance_id: c for c in instances}
        self.insts: dict[str, Inst] = {}
        self._enabled: dict[str, bool] = {}
        self._free: dict[str, list[int]] = {}
        self._nova_peers: dict[str, set[str]] = {}
        self._members: dict[str, list[Inst]] = {}
        self._feasible: dict[tuple[str, bool], bool] = {}  # placeability per host, valid within one decide()
        # Ranking inputs, computed once per decide() (heuristics: a little staleness within one decision is fine;
        # decide() runs in workflow code at every event, also on replay, so it must stay cheap).
        self._chains: dict[str, float] = {}
        self._served_now: dict[str, bool] = {}
        self._depths: dict[str, int] = {}
        self._by_host: dict[str, list[Inst]] | None = None  # on_host() index; None after any move of an instance
        self._epoch = 0  # bumped whenever capacity may have changed
        self._no_room_epoch = -1  # the epoch at which no pending host could be admitted
        self._version = 0  # bumped at any change of hosts, instances or capacity (keys _fit_cache)
        self._fit_cache: dict[tuple[int, str, tuple[str, ...], tuple[str, ...]], bool] = {}
        self.refresh(snapshot)

    # --- cloud view ------------------------------------------------------------------------------------
    def refresh(self, snap: CloudSnapshot) -> None:
        """Take in a fresh snapshot: new and vanished servers, capacity, Nova anti-affinity groups."""
        self._enabled = {h.name: h.up and (h.enabled or h.name in self.hosts) for h in snap.hosts}
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
        for inst in sorted(self.insts.values(), key=lambda i: i.id):
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
        self.groups = {g.group_id: _group(g) for g in groups}
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

    # --- queries ---------------------------------------------------------------------------------------
    def on_host(self, host: str) -> list[Inst]:
        """Instances the session must get off `host` (still there or on their way)."""
        if self._by_host is None:
            index: dict[str, list[Inst]] = {}
            for i in sorted(self.insts.values(), key=lambda i: i.id):
                if i.step != Step.DONE:
                    for h in {i.host, i.source} - {None, ""}:
                        index.setdefault(h, []).append(i)  # type: ignore[arg-type]
            self._by_host = index
        return list(self._by_host.get(host, []))

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

    # --- the decision -----------------------------------------------------------------------------------
    def decide(self, now: float) -> Decision:
        d = Decision()
        self._feasible, self._chains, self._served_now = {}, {}, {}
        self._maintain_drained(d)
        self._admit(d, now)
        self._notify(d, now)
        self._act(d, now)
        self._maintain_drained(d)
        self._explain(d, now)
        if not d.start and not d.notify and not d.act and not d.maintain and not self.in_progress() \
                and not self.done():
            need = self._scale_in_need()
            if need is not None:
                d.scale_in = need
            else:
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

    def _urgency(self, host: str, now: float) -> tuple[float, float]:
        """(longest, total) remaining chain, in seconds, of the groups on `host` that the draining hosts do not
        already keep busy: admitting a host helps a group only if its pipeline of warned members is not full."""
        longest = total = 0.0
        seen: set[str | None] = set()
        for inst in self.on_host(host):
            if inst.group in seen:
                continue
            seen.add(inst.group)
            if inst.group is None:
                chain = self.est.duration(self.default_for(inst)[0], inst.memory_mb)
            else:
                chain = self._chain(inst.group)
                if self._served(inst.group):
                    chain = 0.0
            longest, total = max(longest, chain), total + chain
        return longest, total

    def _chain(self, group: str) -> float:
        """Seconds of moves and recoveries the group still has ahead, max_impacted_members at a time."""
        if group not in self._chains:
            self._chains[group] = self._chain_now(group)
        return self._chains[group]

    def _chain_now(self, group: str) -> float:
        g = self.groups[group]
        left = [i for i in self.members(group) if i.step in (Step.PENDING, Step.NOTIFIED) and i.origin in self.hosts]
        if not left:
            return 0.0
        move = max(self.est.duration(self.default_for(i)[0], i.memory_mb) for i in left)
        # Within the budget, a round also waits out the lead time (the next member is warned only then).
        lead = max(i.lead_s for i in left) if self.warn_within_budget else 0.0
        return math.ceil(len(left) / g.max_impacted) * (lead + move + g.recovery_s)

    def _served(self, group: str) -> bool:
        """The draining hosts hold enough of the group's members to keep its pipeline full."""
        if group not in self._served_now:
            self._served_now[group] = self._served_count(group) >= self._depth(group)
        return self._served_now[group]

    def _served_count(self, group: str) -> int:
        return sum(1 for i in self.members(group) if i.step in (Step.PENDING, Step.NOTIFIED)
                     and self.hosts.get(i.origin) == HostStep.DRAINING)

    def _rank(self, hosts: list[str], now: float) -> list[str]:
        def key(h: str) -> tuple[int, float, float, int, str]:
            longest, total = self._urgency(h, now)
            # Within the budget, a member warned ahead holds its group's slot until it has moved: its host goes
            # first, or the slot is wasted while the lead time has long run out.
            warned = -sum(1 for i in self.on_host(h) if i.step == Step.NOTIFIED) if self.warn_within_budget else 0
            return (warned, -longest, -total, len(self.on_host(h)), h)
        return sorted(hosts, key=key)

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
            ahead = [h for h in ranked if self._placeable(h, double_moves=False)][: self.max_parallel]
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

    def _fits_after(self, host: str, finished: list[str], ahead: list[str]) -> bool:
        key = (self._version, host, tuple(finished), tuple(ahead))
        if key not in self._fit_cache:
            if len(self._fit_cache) > 4096:
                self._fit_cache.clear()
            self._fit_cache[key] = self._fits_after_now(host, finished, ahead)
        return self._fit_cache[key]

    def _fits_after_now(self, host: str, finished: list[str], ahead: list[str]) -> bool:
        free = {h: list(v) for h, v in self._free.items()}
        saved = {h: self.hosts[h] for h in finished}
        for h in finished:
            for i in self.on_host(h):
                if i.source != h:
                    free[h][0] += i.vcpus
                    free[h][1] += i.memory_mb
        for h in self.in_progress() + ahead + [host]:
            if h not in finished:
                free.pop(h, None)
        todo = [i for h in self.in_progress() + ahead + [host] for i in self.on_host(h)
                if i.step in (Step.PENDING, Step.NOTIFIED)
                and (i.action or i.migration_type) != InstanceAction.EVICTION]
        todo.sort(key=lambda i: (-i.memory_mb, -i.vcpus, i.id))
        placed: dict[str, str] = {}
        try:
            for h in finished:
                self.hosts[h] = HostStep.DONE
            for i in todo:
                if i.host in finished:
                    placed[i.id] = ""  # gone from the finished host
            for inst in todo:
                target = self.choose_target(inst, free, placed, double_moves=False)
                if target is None:
                    return False
                free[target][0] -= inst.vcpus
                free[target][1] -= inst.memory_mb
                placed[inst.id] = target
            return True
        finally:
            self.hosts.update(saved)

    def _eta_done(self, hosts: list[str], now: float) -> dict[str, float]:
        """When each instance still on `hosts` is likely off it: its group's slots taken in turn, each for a lead
        time, a move and the recovery time (an estimate for warning ahead, not a promise)."""
        done: dict[str, float] = {}
        queues: dict[str, list[Inst]] = {}
        for h in hosts:
            for i in self.on_host(h):
                move = self.est.duration(i.action or self.default_for(i)[0], i.memory_mb)
                if i.step == Step.ACTING:
                    done[i.id] = now + move
                elif i.step == Step.NOTIFIED:
                    done[i.id] = max(now, i.actions_at or now) + move
                elif i.group is None:
                    done[i.id] = now + i.lead_s + move
                else:
                    queues.setdefault(i.group, []).append(i)
        for gid, queue in queues.items():
            g = self.groups[gid]
            slots: list[float] = []
            for m in self.members(gid):
                move = self.est.duration(m.action or self.default_for(m)[0], m.memory_mb)
                if m.step == Step.ACTING:
                    slots.append(now + move + g.recovery_s)
                elif m.step == Step.NOTIFIED:
                    slots.append(max(now, m.actions_at or now) + move + g.recovery_s)
                elif m.done_at is not None and now < m.done_at + g.recovery_s:
                    slots.append(m.done_at + g.recovery_s)
            slots = sorted(slots)[: g.max_impacted]
            slots += [now] * max(0, g.max_impacted - len(slots))
            heapq.heapify(slots)
            for i in sorted(queue, key=lambda i: (i.lead_s, i.id)):
                free = heapq.heappop(slots)
                end = free + i.lead_s + self.est.duration(self.default_for(i)[0], i.memory_mb)
                done[i.id] = end
                heapq.heappush(slots, end + g.recovery_s)
        return done

    def _admission_etas(self, later: list[str], ahead: list[str], now: float) -> dict[str, float]:
        """When each of `later` (pending hosts that cannot be emptied yet, most urgent first) could be admitted:
        once enough hosts in progress are maintained that it has a parallel slot and its instances fit (the one
        placement, on the hosts maintained by then). Hosts that would not fit even then are left out."""
        progress = self.in_progress()
        dones = self._eta_done(progress, now)
        events = sorted((max([now] + [dones.get(i.id, now) for i in self.on_host(h)]), h) for h in progress)
        slots = self.max_parallel - len(progress) - len(ahead)
        finished: list[str] = []
        t = now
        etas: dict[str, float] = {}
        for h in later:
            if len(etas) + len(ahead) >= self.max_parallel:
                break
            while events and (slots <= 0 or not self._fits_after(h, finished, ahead + list(etas))):
                t, done = events.pop(0)
                finished.append(done)
                slots += 1
            if slots <= 0 or not self._fits_after(h, finished, ahead + list(etas)):
                break
            slots -= 1
            etas[h] = t
        return etas

    def _depth(self, group: str) -> int:
        """How many members may wait warned: enough that their lead time runs while earlier members move.

        One round of the group takes a move plus its recovery time; a member warned `lead_time` before its slot
        needs ceil(lead / round) rounds of members warned ahead of it. Never fewer than max_impacted_members,
        and no earlier than the lead time requires (a VNFM may start preparing as soon as it is warned).
        """
        if group not in self._depths:
            self._depths[group] = self._depth_of(group)
        return self._depths[group]

    def _depth_of(self, group: str) -> int:
        g = self.groups[group]
        members = self.members(group)
        if not members or self.warn_within_budget:
            return g.max_impacted
        lead = max(i.lead_s for i in members)
        move = min(self.est.duration(self.default_for(i)[0], i.memory_mb) for i in members)
        return g.max_impacted * max(1, math.ceil(lead / max(1.0, move + g.recovery_s)))

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

    # --- placement -------------------------------------------------------------------------------------
    def choose_target(self, inst: Inst, free: dict[str, list[int]] | None = None,
                      extra: dict[str, str] | None = None, *, double_moves: bool = True) -> str | None:
        """Best host for `inst`: maintained hosts, then hosts outside the session, then hosts still to do."""
        free = free if free is not None else self._free
        best: tuple[int, int, str] | None = None
        for host, (vcpus, mem) in sorted(free.items()):
            step = self.hosts.get(host)
            if host == inst.host or not self._enabled.get(host, False):
                continue
            if step in (HostStep.DRAINING, HostStep.MAINTAINING):
                continue
            tier = 0 if step == HostStep.DONE else 1 if step is None else 2
            if tier == 2 and not double_moves:
                continue
            if vcpus < inst.vcpus or mem < inst.memory_mb or not self._allowed_on(inst, host, extra):
                continue
            key = (tier, mem - inst.memory_mb, host)
            best = key if best is None or key < best else best
        return best[2] if best else None

    def _allowed_on(self, inst: Inst, host: str, extra: dict[str, str] | None) -> bool:
        def hosts_of(other: Inst) -> set[str]:
            where = {other.host, other.source} - {None, ""}
            if extra and other.id in extra:
                where = {extra[other.id]}
            return where  # type: ignore[return-value]

        for peer in self._nova_peers.get(inst.id, set()):
            other = self.insts.get(peer)
            if other is not None and host in hosts_of(other):
                return False
        if inst.group is None:
            return True
        g = self.groups[inst.group]
        if not g.anti_affinity and g.max_per_host <= 0:
            return True
        limit = 1 if g.anti_affinity else g.max_per_host
        if g.anti_affinity and g.max_per_host > 0:
            limit = min(limit, g.max_per_host)
        there = sum(1 for o in self.members(inst.group) if o.id != inst.id and host in hosts_of(o))
        return there < limit

    def _placeable(self, host: str, *, double_moves: bool) -> bool:
        """Could every instance still on the draining hosts and on `host` be placed at once?"""
        key = (host, double_moves)
        if key not in self._feasible:
            self._feasible[key] = self._plan_fits(host, double_moves=double_moves)
        return self._feasible[key]

    def _plan_fits(self, host: str, *, double_moves: bool) -> bool:
        free = {h: list(v) for h, v in self._free.items()}
        for h in self.in_progress() + [host]:
            free.pop(h, None)
        placed: dict[str, str] = {}
        todo = [i for h in self.in_progress() + [host] for i in self.on_host(h)
                if i.step in (Step.PENDING, Step.NOTIFIED)
                and (i.action or i.migration_type) != InstanceAction.EVICTION]
        todo.sort(key=lambda i: (-i.memory_mb, -i.vcpus, i.id))
        saved = {i.id: i.host for i in todo}
        try:
            for inst in todo:
                target = self.choose_target(inst, free, placed, double_moves=double_moves)
                if target is None:
                    return False
                free[target][0] -= inst.vcpus
                free[target][1] -= inst.memory_mb
                placed[inst.id] = target
            return True
        finally:
            for inst in todo:
                inst.host = saved[inst.id]

    # --- explaining and scaling in --------------------------------------------------------------------
    def _explain(self, d: Decision, now: float) -> None:
        for host, step in self.hosts.items():
            why: list[str] = []
            waits: list[tuple[str, str]] = []
            if step == HostStep.PENDING:
                if len(self.in_progress()) >= self.max_parallel:
                    why.append(f"parallel limit: {len(self.in_progress())} of max_parallel_hosts "
                               f"{self.max_parallel} host(s) in progress")
                    waits.append(("parallel_limit", ""))
                elif not self._feasible.get((host, True), self._feasible.get((host, False), True)):
                    why.append("capacity: its instances do not fit on the other hosts "
                               f"({self._shortfall_text(host)})")
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

    def _shortfall(self, host: str) -> tuple[int, int]:
        others = [h for h, ok in self._enabled.items() if ok and h != host
                  and self.hosts.get(h) not in (HostStep.DRAINING, HostStep.MAINTAINING)]
        need = self.on_host(host)
        vcpus = sum(i.vcpus for i in need) - sum(self._free[h][0] for h in others)
        mem = sum(i.memory_mb for i in need) - sum(self._free[h][1] for h in others)
        return max(0, vcpus), max(0, mem)

    def _shortfall_text(self, host: str) -> str:
        vcpus, mem = self._shortfall(host)
        if vcpus or mem:
            return f"short of {vcpus} vCPU / {mem} MB"
        return "fragmentation, anti-affinity or max_instances_per_host"

    def _scale_in_need(self) -> ScaleInNeed | None:
        """What to ask projects to remove so the cheapest pending host can be emptied; None if nothing helps.

        Groups that do not ask for their capacity to be kept (resource_mitigation false) are asked first; no
        group is asked for more than its max_impacted_members; ungrouped instances count one by one.
        """
        pending = [h for h, s in self.hosts.items() if s == HostStep.PENDING and self.on_host(h)]
        if not pending:
            return None
        host = min(pending, key=lambda h: (self._shortfall(h), len(self.on_host(h)), h))
        vcpus, mem = self._shortfall(host)
        if vcpus == 0 and mem == 0:
            # Fragmentation or placement rules: freeing one instance of each group on the host is the best ask.
            vcpus, mem = min(i.vcpus for i in self.on_host(host)), min(i.memory_mb for i in self.on_host(host))
        need = ScaleInNeed(host=host, vcpus=vcpus, memory_mb=mem)
        got_v = got_m = 0
        live = [i for i in self.insts.values() if i.step != Step.DONE or i.host]
        by_group: dict[str | None, list[Inst]] = {}
        for inst in live:
            by_group.setdefault(inst.group, []).append(inst)
        order = sorted(self.groups.values(), key=lambda g: (g.mitigation, -len(by_group.get(g.id, [])), g.id))
        for g in order:
            members = sorted(by_group.get(g.id, []), key=lambda i: (-i.memory_mb, i.id))
            take = 0
            for inst in members[: g.max_impacted]:
                if got_v >= vcpus and got_m >= mem:
                    break
                got_v, got_m, take = got_v + inst.vcpus, got_m + inst.memory_mb, take + 1
            if take:
                need.per_group[g.id] = take
        for inst in sorted(by_group.get(None, []), key=lambda i: (-i.memory_mb, i.id)):
            if got_v >= vcpus and got_m >= mem:
                break
            got_v, got_m = got_v + inst.vcpus, got_m + inst.memory_mb
            need.per_project[inst.project_id] = need.per_project.get(inst.project_id, 0) + 1
        return need if need.per_group or need.per_project else None
