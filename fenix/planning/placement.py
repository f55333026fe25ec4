"""Placement over a cloud snapshot: where an instance may go, which host to empty next, and the group rules.

Pure functions of their arguments, so they are deterministic in workflow code (workflows/default_flow.py and the
instance lane, workflows/lane.py) and easy to test alone. The `vnf` planner tracks its own capacity and instances in
flight (fenix/planning/targets.py) but takes a group's per-host limit from `per_host_limit` here, so both flows read
registered constraints alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from fenix.models.cloud import CloudSnapshot, ComputeHost, GroupPolicy, Server
from fenix.models.constraints import GroupConstraints, InstanceConstraints
from fenix.models.host_run import PlacementRule
from fenix.planning.bestfit import BestFit

HARD_ANTI_AFFINITY = {GroupPolicy.ANTI_AFFINITY}


class Capacity:
    """Free vCPU and RAM per host, updated as a plan places servers (a scratch copy of the snapshot)."""

    def __init__(self, hosts: Iterable[ComputeHost]) -> None:
        self.vcpus = {h.name: h.vcpus_free for h in hosts}
        self.ram = {h.name: h.memory_mb_free for h in hosts}

    def fits(self, host: str, server: Server) -> bool:
        return self.vcpus.get(host, 0) >= server.vcpus and self.ram.get(host, 0) >= server.memory_mb

    def move(self, server: Server, dest: str) -> None:
        self.vcpus[dest] -= server.vcpus
        self.ram[dest] -= server.memory_mb
        if server.host in self.vcpus:
            self.vcpus[server.host] += server.vcpus
            self.ram[server.host] += server.memory_mb


def anti_affinity_peers(snapshot: CloudSnapshot, server: Server) -> set[str]:
    """Ids of the other members of the server's hard anti-affinity group."""
    for group in snapshot.server_groups:
        if group.policy in HARD_ANTI_AFFINITY and server.id in group.members:
            return set(group.members) - {server.id}
    return set()


def per_host_limit(anti_affinity: bool, max_per_host: int) -> int | None:
    """How many members of a registered group one host may hold; None: no limit.

    Anti-affinity means one (a `max_instances_per_host` is at least 1, so it cannot lower that); otherwise
    `max_instances_per_host`, where 0 means no limit (Doctor's and Tacker's value for a group without one).
    """
    if anti_affinity:
        return 1
    return max_per_host if max_per_host > 0 else None


def placement_rules(instances: Iterable[InstanceConstraints],
                    groups: Iterable[GroupConstraints]) -> list[PlacementRule]:
    """The registered groups that limit placement, with their members (group ids are each project's own)."""
    members: dict[tuple[str, str], list[str]] = {}
    for inst in instances:
        if inst.group_id is not None:
            members.setdefault((inst.project_id, inst.group_id), []).append(inst.instance_id)
    rules = []
    for g in sorted(groups, key=lambda g: (g.project_id, g.group_id)):
        limit = per_host_limit(g.anti_affinity_group, g.max_instances_per_host)
        ids = members.get((g.project_id, g.group_id), [])
        if limit is not None and len(ids) > limit:
            rules.append(PlacementRule(group_id=g.group_id, members=sorted(ids), max_per_host=limit))
    return rules


class _Cloud:
    """One snapshot's indexes, built once per call: servers by host, locations, Nova peers, rules by member.

    The public functions used to rebuild the locations and scan every host and group for each instance they placed,
    which made `host_to_empty` O(hosts^2 x instances per host): 2 s of a workflow task at 300 hosts.
    """

    def __init__(self, snapshot: CloudSnapshot, rules: Sequence[PlacementRule]) -> None:
        self.free = {h.name: (h.vcpus_free, h.memory_mb_free) for h in snapshot.hosts}
        self.usable = [h.name for h in snapshot.hosts if h.enabled and h.up]
        self.servers_on: dict[str | None, list[Server]] = {}
        for s in snapshot.servers:
            self.servers_on.setdefault(s.host, []).append(s)
        self.location: dict[str, str | None] = {s.id: s.host for s in snapshot.servers}
        self.peers: dict[str, set[str]] = {}
        for group in snapshot.server_groups:
            if group.policy in HARD_ANTI_AFFINITY:
                for m in group.members:
                    self.peers.setdefault(m, set(group.members) - {m})  # the first group holding it, as before
        self.rules_of: dict[str, list[PlacementRule]] = {}
        for rule in rules:
            for m in dict.fromkeys(rule.members):
                self.rules_of.setdefault(m, []).append(rule)
        self.min_vcpus = min((s.vcpus for s in snapshot.servers), default=0)

    def fit(self, preferred: set[str], avoid: set[str], capacity: Capacity | None = None,
            min_vcpus: int | None = None) -> BestFit:
        """The usable hosts in their tiers, with the snapshot's free room (or `capacity`'s)."""
        free = ((h, capacity.vcpus.get(h, 0), capacity.ram.get(h, 0)) if capacity else (h, *self.free[h])
                for h in self.usable)
        return BestFit(free, lambda h: 0 if h in preferred else 2 if h in avoid else 1,
                       self.min_vcpus if min_vcpus is None else min_vcpus)

    def target(self, fit: BestFit, server: Server, placed: dict[str, str]) -> str | None:
        def where(sid: str) -> str | None:
            return placed[sid] if sid in placed else self.location.get(sid)

        blocked = {where(p) for p in self.peers.get(server.id, ())}
        for rule in self.rules_of.get(server.id, ()):
            there = Counter(where(m) for m in rule.members if m != server.id)
            blocked |= {h for h, n in there.items() if h is not None and n >= rule.max_per_host}
        return fit.best(server.vcpus, server.memory_mb, lambda h: h != server.host and h not in blocked)

    def plan(self, base: BestFit, host: str, leaving: set[str]) -> dict[str, str] | None:
        fit = base.copy()
        plan: dict[str, str] = {}
        servers = sorted(self.servers_on.get(host, []), key=lambda s: (-s.memory_mb, -s.vcpus, s.id))
        for server in servers:
            if server.id in leaving:
                continue
            dest = self.target(fit, server, plan)
            if dest is None:
                return None
            fit.take(dest, server.vcpus, server.memory_mb)
            plan[server.id] = dest
        return plan


def choose_target(snapshot: CloudSnapshot, server: Server, *, preferred: set[str], avoid: set[str],
                  capacity: Capacity | None = None, placed: dict[str, str] | None = None,
                  rules: Sequence[PlacementRule] = ()) -> str | None:
    """Pick the destination for one server, or None when nothing fits.

    Tiers: already-maintained hosts (the instance gains the new capabilities and will not move again),
    then hosts outside the session, then session hosts still to be maintained (`avoid`: a second move
    later). Within a tier, best fit (least free RAM after the move) packs instances so that whole hosts
    stay free. Disabled or down hosts, hosts holding a Nova anti-affinity peer, and hosts where `rules` (registered
    groups) allow no more members are never chosen. `placed` overrides server locations for servers already planned
    to move.
    """
    cloud = _Cloud(snapshot, rules)
    fit = cloud.fit(preferred, avoid, capacity or Capacity(snapshot.hosts), min_vcpus=server.vcpus)
    return cloud.target(fit, server, placed or {})


def evacuation_plan(snapshot: CloudSnapshot, host: str, *, preferred: set[str], avoid: set[str],
                    leaving: set[str] | None = None, rules: Sequence[PlacementRule] = ()) -> dict[str, str] | None:
    """Destinations for every server on `host` (largest first, each as `choose_target` would place it), or None if
    the host cannot be emptied.

    `leaving` are servers the caller does not need to place (OWN_ACTION: the project moves them). The host being
    emptied takes nothing new: it is every server's own host.
    """
    cloud = _Cloud(snapshot, rules)
    return cloud.plan(cloud.fit(preferred, avoid | {host}), host, leaving or set())


def host_to_empty(snapshot: CloudSnapshot, pending: list[str], maintained: set[str],
                  rules: Sequence[PlacementRule] = ()) -> str | None:
    """The next occupied host to evacuate: one that can be emptied, with the least to move.

    Hosts are considered as if the ones still pending were available (they are enabled until their
    turn), which is what Nova will allow. Every trial plan starts from the same snapshot, so the indexes and the
    sorted free room are built once and each trial works on a scratch copy.
    """
    cloud = _Cloud(snapshot, rules)
    base = cloud.fit(maintained, set(pending))
    best: tuple[int, int, str] | None = None
    for name in sorted(pending):
        servers = cloud.servers_on.get(name, [])
        if not servers:
            continue
        if cloud.plan(base, name, set()) is None:
            continue
        key = (sum(s.memory_mb for s in servers), len(servers), name)
        best = key if best is None or key < best else best
    return best[2] if best else None


def capacity_shortfall(snapshot: CloudSnapshot, pending: list[str]) -> tuple[int, int]:
    """vCPU and RAM that must be freed so the smallest pending host could be emptied (for the notice)."""
    usable = [h for h in snapshot.hosts if h.enabled and h.up]
    total = (sum(h.vcpus_free for h in usable), sum(h.memory_mb_free for h in usable))
    own: dict[str, tuple[int, int]] = {}  # a pending host's own free room, which cannot take its servers
    for h in usable:
        v, m = own.get(h.name, (0, 0))
        own[h.name] = (v + h.vcpus_free, m + h.memory_mb_free)
    servers_on: dict[str | None, list[Server]] = {}
    for s in snapshot.servers:
        servers_on.setdefault(s.host, []).append(s)
    best: tuple[int, int] | None = None
    for name in pending:
        servers = servers_on.get(name, [])
        if not servers:
            return (0, 0)
        free_vcpus = total[0] - own.get(name, (0, 0))[0]
        free_ram = total[1] - own.get(name, (0, 0))[1]
        need = (max(0, sum(s.vcpus for s in servers) - free_vcpus),
                max(0, sum(s.memory_mb for s in servers) - free_ram))
        best = need if best is None or need < best else best
    return best or (0, 0)
