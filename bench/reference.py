"""The benchmark's reference cloud and the lower bound of a session's makespan on it.

24 hosts of 32 vCPU / 128 GiB; 2 of them start empty (spares). 5 projects, 10 instance groups, 196 instances:
two HA pairs-of-three (anti-affinity, one member impacted at a time, 60 s recovery) and eight scale-out groups
(max_instances_per_host 3, 2-4 impacted at once, 20-45 s recovery). Lead times 30-90 s. Deterministic (seeded).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fenix.cloud.simulated import SimGroupSpec, SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import GroupPolicy
from fenix.models.constraints import GroupFields, InstanceFields, InstanceMigrationType
from fenix.models.plan import MoveEstimates
from fenix.models.session import InstanceAction

HOSTS = 24
SPARES = 2
HOST_VCPUS, HOST_MB = 32, 131072


@dataclass
class GroupSpec:
    name: str
    project: str
    members: int
    fields: GroupFields
    lead_s: int
    migration_type: InstanceMigrationType
    vcpus: int
    memory_mb: int
    max_interruption_s: int = 120


GROUPS = [
    GroupSpec("ha-db", "p-core", 6, GroupFields(anti_affinity_group=True, max_impacted_members=1, recovery_time=60),
              30, InstanceMigrationType.LIVE_MIGRATE, 4, 16384),
    GroupSpec("ha-lb", "p-edge", 6, GroupFields(anti_affinity_group=True, max_impacted_members=1, recovery_time=60),
              30, InstanceMigrationType.LIVE_MIGRATE, 2, 4096),
    GroupSpec("web", "p-edge", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=30),
              60, InstanceMigrationType.LIVE_MIGRATE, 2, 4096),
    GroupSpec("api", "p-core", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=30),
              60, InstanceMigrationType.LIVE_MIGRATE, 2, 8192),
    GroupSpec("worker", "p-batch", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=20),
              90, InstanceMigrationType.MIGRATE, 4, 8192),
    GroupSpec("cache", "p-core", 20, GroupFields(max_instances_per_host=2, max_impacted_members=3, recovery_time=45),
              30, InstanceMigrationType.LIVE_MIGRATE, 2, 16384),
    GroupSpec("queue", "p-msg", 20, GroupFields(max_instances_per_host=2, max_impacted_members=3, recovery_time=30),
              60, InstanceMigrationType.LIVE_MIGRATE, 2, 4096),
    GroupSpec("stream", "p-msg", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=30),
              60, InstanceMigrationType.LIVE_MIGRATE, 2, 8192),
    GroupSpec("etl", "p-batch", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=20),
              90, InstanceMigrationType.MIGRATE, 4, 4096),
    GroupSpec("search", "p-data", 24, GroupFields(max_instances_per_host=3, max_impacted_members=4, recovery_time=40),
              45, InstanceMigrationType.LIVE_MIGRATE, 2, 8192),
]


def seed(seed_value: int = 7) -> SimSeed:
    """Hosts, Nova server groups (for the HA groups) and servers, spread by the simulator's scheduler."""
    rng = random.Random(seed_value)
    hosts = [SimHostSpec(name=f"compute-{i:02d}", vcpus=HOST_VCPUS, memory_mb=HOST_MB) for i in range(HOSTS)]
    used = [h.name for h in hosts[: HOSTS - SPARES]]
    groups = [SimGroupSpec(name=g.name, project_id=g.project, policy=GroupPolicy.ANTI_AFFINITY)
              for g in GROUPS if g.fields.anti_affinity_group]
    servers = []
    load = dict.fromkeys(used, 0)
    for g in GROUPS:
        per_host: dict[str, int] = {}
        limit = 1 if g.fields.anti_affinity_group else g.fields.max_instances_per_host
        for n in range(g.members):
            options = [h for h in used if per_host.get(h, 0) < limit and load[h] + g.vcpus <= HOST_VCPUS]
            host = min(options, key=lambda h: (load[h], rng.random()))
            per_host[host] = per_host.get(host, 0) + 1
            load[host] += g.vcpus
            servers.append(SimServerSpec(name=f"{g.name}-{n}", project_id=g.project, vcpus=g.vcpus,
                                         memory_mb=g.memory_mb, host=host,
                                         group=g.name if g.fields.anti_affinity_group else None))
    return SimSeed(hosts=hosts, groups=groups, servers=servers)


def instance_fields(g: GroupSpec) -> InstanceFields:
    return InstanceFields(group_id=g.name, max_interruption_time=g.max_interruption_s, migration_type=g.migration_type,
                          lead_time=g.lead_s)


def lower_bound(est: MoveEstimates, host_maintenance_s: float, members_on: dict[str, dict[str, int]]) -> float:
    """A makespan no schedule can beat, from the constraints and the move times (no replies: full lead times).

    The larger of: (a) per group, ceil(M / max_impacted) rounds, each of a lead time and a move, with the recovery
    time between rounds (every member on a session host moves at least once, and a member counts against its
    group's budget from its warning on, so the next round is warned only once the previous one has recovered); (b)
    per host, the shortest lead time of its instances, its longest move and its maintenance.
    `members_on[host][group]` counts the members of each group on each session host.
    """
    by_group = {g.name: g for g in GROUPS}
    bound = 0.0
    for g in GROUPS:
        m = sum(c.get(g.name, 0) for c in members_on.values())
        if not m:
            continue
        move = est.duration(InstanceAction(g.migration_type.value), g.memory_mb)
        rounds = math.ceil(m / g.fields.max_impacted_members)
        bound = max(bound, rounds * (g.lead_s + move) + (rounds - 1) * g.fields.recovery_time)
    for counts in members_on.values():
        present = [by_group[name] for name, c in counts.items() if c]
        if not present:
            bound = max(bound, host_maintenance_s)
            continue
        lead = min(g.lead_s for g in present)
        move = max(est.duration(InstanceAction(g.migration_type.value), g.memory_mb) for g in present)
        bound = max(bound, lead + move + host_maintenance_s)
    return bound
