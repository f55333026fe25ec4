"""Where an instance may go in the vnf flow, and whether a host's instances can all be placed at once.

Targets respect free capacity, Nova anti-affinity groups, `anti_affinity_group` and `max_instances_per_host` (a
member in flight counts on both its source and its target, as Nova claims both).
"""

from __future__ import annotations

from collections.abc import Callable

from fenix.models.session import InstanceAction
from fenix.planning.bestfit import BestFit
from fenix.planning.model import HostStep, Inst, Step
from fenix.planning.placement import per_host_limit
from fenix.planning.state import PlanState


class Targets(PlanState):
    """Placement: the best target of one instance, and placeability of whole hosts (cached per decide())."""

    def choose_target(self, inst: Inst, free: dict[str, list[int]] | None = None,
                      extra: dict[str, str] | None = None, *, double_moves: bool = True) -> str | None:
        """Best host for `inst`: maintained hosts, then hosts outside the session, then hosts still to do."""
        fit = self._fit(free if free is not None else self._free, double_moves=double_moves, min_vcpus=inst.vcpus)
        return fit.best(inst.vcpus, inst.memory_mb, self._allows(inst, extra))

    def _allows(self, inst: Inst, extra: dict[str, str] | None, exclude: str = "") -> Callable[[str], bool]:
        return lambda h: h != inst.host and h != exclude and self._allowed_on(inst, h, extra)

    def _fit(self, free: dict[str, list[int]], *, double_moves: bool, min_vcpus: int) -> BestFit:
        """`free` in the tiers targets are chosen by; hosts in progress, disabled or down are no candidates."""
        def tier(host: str) -> int | None:
            step = self.hosts.get(host)
            if not self._enabled.get(host, False) or step in (HostStep.DRAINING, HostStep.MAINTAINING):
                return None
            t = 0 if step == HostStep.DONE else 1 if step is None else 2
            return None if t == 2 and not double_moves else t

        return BestFit(((h, v[0], v[1]) for h, v in free.items()), tier, min_vcpus)

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
        # Every host tried within one state starts from the same free room (the hosts in progress left out): it is
        # sorted once per state version and each trial works on a scratch copy. Trying every pending host, each
        # with a scan of every host per instance, took seconds per decision at 1,000 hosts.
        key = (self._version, double_moves)
        if key not in self._fit_bases:
            if len(self._fit_bases) >= 4:
                self._fit_bases.clear()
            progress = self.in_progress()
            free = {h: v for h, v in self._free.items() if h not in set(progress)}
            self._fit_bases[key] = progress, self._fit(free, double_moves=double_moves, min_vcpus=min(
                (i.vcpus for i in self.insts.values()), default=0))
        progress, base = self._fit_bases[key]
        fit = base.copy()
        todo = self._to_place(progress + [host])
        saved = {i.id: i.host for i in todo}
        try:
            return self._place_all(todo, fit, {}, exclude=host)
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

    def _place_all(self, todo: list[Inst], fit: BestFit, placed: dict[str, str], *, exclude: str = "") -> bool:
        """Place `todo` one by one on `fit` (updated), recording each target in `placed`; False if one fits nowhere.
        `exclude` is no candidate (the host being tried, left out of the free room)."""
        for inst in todo:
            target = fit.best(inst.vcpus, inst.memory_mb, self._allows(inst, placed, exclude))
            if target is None:
                return False
            fit.take(target, inst.vcpus, inst.memory_mb)
            placed[inst.id] = target
        return True
