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


def _full_hosts(rules: Sequence[PlacementRule], server: Server, locations: dict[str, str | None]) -> set[str]:
    """Hosts where another member of one of the server's groups would exceed the group's limit."""
    full: set[str] = set()
    for rule in rules:
        if server.id in rule.members:
            there = Counter(locations.get(m) for m in rule.members if m != server.id)
            full |= {h for h, n in there.items() if h is not None and n >= rule.max_per_host}
    return full


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
    cap = capacity or Capacity(snapshot.hosts)
    locations: dict[str, str | None] = {s.id: s.host for s in snapshot.servers}
    locations.update(placed or {})
    peer_hosts = {locations.get(p) for p in anti_affinity_peers(snapshot, server)} | _full_hosts(rules, server,
                                                                                                  locations)
    candidates: list[tuple[int, int, str]] = []
    for host in snapshot.hosts:
        if host.name == server.host or not host.enabled or not host.up:
            continue
        if host.name in peer_hosts or not cap.fits(host.name, server):
            continue
        tier = 0 if host.name in preferred else 2 if host.name in avoid else 1
        candidates.append((tier, cap.ram[host.name] - server.memory_mb, host.name))
    return min(candidates)[2] if candidates else None


def evacuation_plan(snapshot: CloudSnapshot, host: str, *, preferred: set[str], avoid: set[str],
                    leaving: set[str] | None = None, rules: Sequence[PlacementRule] = ()) -> dict[str, str] | None:
    """Destinations for every server on `host` (largest first), or None if the host cannot be emptied.

    `leaving` are servers the caller does not need to place (OWN_ACTION: the project moves them).
    """
    cap = Capacity(snapshot.hosts)
    cap.vcpus[host] = cap.ram[host] = 0  # the host being emptied takes nothing new
    plan: dict[str, str] = {}
    servers = sorted(snapshot.servers_on(host), key=lambda s: (-s.memory_mb, -s.vcpus, s.id))
    for server in servers:
        if server.id in (leaving or set()):
            continue
        dest = choose_target(snapshot, server, preferred=preferred, avoid=avoid | {host},
                             capacity=cap, placed=plan, rules=rules)
        if dest is None:
            return None
        cap.move(server, dest)
        plan[server.id] = dest
    return plan


def host_to_empty(snapshot: CloudSnapshot, pending: list[str], maintained: set[str],
                  rules: Sequence[PlacementRule] = ()) -> str | None:
    """The next occupied host to evacuate: one that can be emptied, with the least to move.

    Hosts are considered as if the ones still pending were available (they are enabled until their
    turn), which is what Nova will allow.
    """
    best: tuple[int, int, str] | None = None
    for name in sorted(pending):
        servers = snapshot.servers_on(name)
        if not servers:
            continue
        if evacuation_plan(snapshot, name, preferred=maintained, avoid=set(pending), rules=rules) is None:
            continue
        key = (sum(s.memory_mb for s in servers), len(servers), name)
        best = key if best is None or key < best else best
    return best[2] if best else None


def capacity_shortfall(snapshot: CloudSnapshot, pending: list[str]) -> tuple[int, int]:
    """vCPU and RAM that must be freed so the smallest pending host could be emptied (for the notice)."""
    best: tuple[int, int] | None = None
    for name in pending:
        servers = snapshot.servers_on(name)
        if not servers:
            return (0, 0)
        free_vcpus = sum(h.vcpus_free for h in snapshot.hosts if h.name != name and h.enabled and h.up)
        free_ram = sum(h.memory_mb_free for h in snapshot.hosts if h.name != name and h.enabled and h.up)
        need = (max(0, sum(s.vcpus for s in servers) - free_vcpus),
                max(0, sum(s.memory_mb for s in servers) - free_ram))
        best = need if best is None or need < best else best
    return best or (0, 0)
