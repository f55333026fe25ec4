"""Where an instance may go in the vnf flow, and whether a host's instances can all be placed at once.

Targets respect free capacity, Nova anti-affinity groups, `anti_affinity_group` and `max_instances_per_host` (a
member in flight counts on both its source and its target, as Nova claims both).
"""

from __future__ import annotations

from fenix.models.session import InstanceAction
from fenix.planning.model import HostStep, Inst, Step
from fenix.planning.placement import per_host_limit
from fenix.planning.state import PlanState


class Targets(PlanState):
    """Placement: the best target of one instance, and placeability of whole hosts (cached per decide())."""

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
        limit = per_host_limit(g.anti_affinity, g.max_per_host)
        if limit is None:
            return True
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
        todo = self._to_place(self.in_progress() + [host])
        saved = {i.id: i.host for i in todo}
        try:
            return self._place_all(todo, free, {}, double_moves=double_moves)
        finally:
            for inst in todo:
                inst.host = saved[inst.id]

    def _to_place(self, hosts: list[str]) -> list[Inst]:
        """The instances still to leave `hosts` that need a target, largest first (the order placement tries)."""
        todo = [i for h in hosts for i in self.on_host(h)
                if i.step in (Step.PENDING, Step.NOTIFIED)
                and (i.action or i.migration_type) != InstanceAction.EVICTION]
        todo.sort(key=lambda i: (-i.memory_mb, -i.vcpus, i.id))
        return todo

    def _place_all(self, todo: list[Inst], free: dict[str, list[int]], placed: dict[str, str], *,
                   double_moves: bool) -> bool:
        """Place `todo` one by one on `free` (updated), recording each target in `placed`; False if one fits nowhere."""
        for inst in todo:
            target = self.choose_target(inst, free, placed, double_moves=double_moves)
            if target is None:
                return False
            free[target][0] -= inst.vcpus
            free[target][1] -= inst.memory_mb
            placed[inst.id] = target
        return True
