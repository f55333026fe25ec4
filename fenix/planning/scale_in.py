"""What to ask projects to remove (SCALE_IN) when no pending host can be emptied, and how short the cloud is."""

from __future__ import annotations

from fenix.planning.model import HostStep, Inst, ScaleInNeed, Step
from fenix.planning.state import PlanState


class ScaleIn(PlanState):
    """The capacity a host is short of, and the per-group and per-project scale-in asks that would free it."""

    def _room(self) -> tuple[int, int, set[str]]:
        """Free vCPUs and RAM of the hosts that may take instances (enabled, not in progress), and those hosts.

        Computed once per decision and shared by every host's shortfall: a sum over every host per pending host
        took most of a decision at 1,000 hosts.
        """
        others = {h for h, ok in self._enabled.items() if ok
                  and self.hosts.get(h) not in (HostStep.DRAINING, HostStep.MAINTAINING)}
        return sum(self._free[h][0] for h in others), sum(self._free[h][1] for h in others), others

    def _shortfall(self, host: str, room: tuple[int, int, set[str]] | None = None) -> tuple[int, int]:
        vcpus_free, mem_free, others = room if room is not None else self._room()
        if host in others:  # its own room cannot take its instances
            vcpus_free, mem_free = vcpus_free - self._free[host][0], mem_free - self._free[host][1]
        need = self.on_host(host)
        vcpus = sum(i.vcpus for i in need) - vcpus_free
        mem = sum(i.memory_mb for i in need) - mem_free
        return max(0, vcpus), max(0, mem)

    def _shortfall_text(self, host: str, room: tuple[int, int, set[str]] | None = None) -> str:
        vcpus, mem = self._shortfall(host, room)
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
        room = self._room()
        host = min(pending, key=lambda h: (self._shortfall(h, room), len(self.on_host(h)), h))
        vcpus, mem = self._shortfall(host, room)
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
