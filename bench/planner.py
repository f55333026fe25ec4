"""`python -m bench.planner --hosts 100 300 1000`: the planners' CPU time at size, without Temporal or a cloud.

The `default` flow's host choice (fenix/planning/placement.py) runs in a workflow task, which may not hold the event
loop for more than 2 s; the `vnf` planner (`Pacer.decide`) runs in workflow code at every event; the plan preview
runs in an activity. Each is timed here on a synthetic cloud (`synthetic_cloud`, also the equivalence test's input,
tests/planning/test_equivalence.py): ~10 instances of 1 vCPU per host, some Nova anti-affinity groups and
registered groups, and one empty host of spare room.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from fenix.models.cloud import CloudSnapshot, ComputeHost, GroupPolicy, Server, ServerGroup
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceMigrationType
from fenix.models.plan import MoveEstimates, PlanInput
from fenix.models.session import InstanceAction
from fenix.planning.pacer import Pacer
from fenix.planning.placement import capacity_shortfall, evacuation_plan, host_to_empty, placement_rules
from fenix.planning.preview import simulate

MIGRATION_TYPES = (InstanceMigrationType.MIGRATE, InstanceMigrationType.LIVE_MIGRATE)


@dataclass
class Cloud:
    snap: CloudSnapshot
    instances: list[InstanceConstraints]
    groups: list[GroupConstraints]

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self.snap.hosts]


def synthetic_cloud(hosts: int, seed: int, *, per_host: int = 10, sizes: tuple[int, ...] = (1,),
                    vcpus: int = 16, memory_mb: int = 65536, spare: int = 1, grouped: int = 12) -> Cloud:
    """`hosts` hosts (the last `spare` empty), `per_host` instances on each of the others, random sizes from
    `sizes` (vCPUs; 1 GB of RAM per vCPU); one group of 2-4 members (Nova anti-affinity, registered anti-affinity,
    registered with a per-host limit, or registered only) per `grouped` instances."""
    rng = random.Random(seed)
    names = [f"h{i:04d}" for i in range(hosts)]
    servers: list[Server] = []
    for n in range((hosts - spare) * per_host):
        size = rng.choice(sizes)
        servers.append(Server(id=f"i{n:05d}", name=f"vm{n}", project_id=f"p{n % 10}", host=names[n // per_host],
                              vcpus=size, memory_mb=1024 * size))
    nova: list[ServerGroup] = []
    instances: list[InstanceConstraints] = []
    groups: list[GroupConstraints] = []
    ids = [s.id for s in servers]
    rng.shuffle(ids)
    by_id = {s.id: s for s in servers}
    k = 0
    while len(ids) >= 4 and k < max(1, len(servers) // grouped):
        take, ids = ids[:rng.randint(2, 4)], ids[4:]
        project = by_id[take[0]].project_id
        kind = rng.choice(("nova", "anti", "limit", "plain"))
        if kind == "nova":
            nova.append(ServerGroup(id=f"n{k}", name=f"n{k}", project_id=project, policy=GroupPolicy.ANTI_AFFINITY,
                                    members=sorted(take)))
        else:
            groups.append(GroupConstraints(group_id=f"g{k}", project_id=project, anti_affinity_group=kind == "anti",
                                           max_instances_per_host=2 if kind == "limit" else 0,
                                           max_impacted_members=rng.choice((1, 1, 2)),
                                           recovery_time=rng.choice((0, 30, 60))))
            for sid in take:
                instances.append(InstanceConstraints(instance_id=sid, project_id=by_id[sid].project_id,
                                                     group_id=f"g{k}", lead_time=rng.choice((0, 60, 120)),
                                                     migration_type=rng.choice(MIGRATION_TYPES)))
        k += 1
    used = {n: [0, 0] for n in names}
    for s in servers:
        used[s.host or ""][0] += s.vcpus
        used[s.host or ""][1] += s.memory_mb
    snap = CloudSnapshot(hosts=[ComputeHost(name=n, vcpus=vcpus, memory_mb=memory_mb, vcpus_used=used[n][0],
                                            memory_mb_used=used[n][1]) for n in names],
                         servers=servers, server_groups=nova)
    return Cloud(snap=snap, instances=instances, groups=groups)


def pacer_for(cloud: Cloud, *, parallel: int = 4) -> Pacer:
    return Pacer(cloud.snap, cloud.hosts, instances=cloud.instances, groups=cloud.groups,
                 default_action=InstanceAction.LIVE_MIGRATE, max_parallel_hosts=parallel, estimates=MoveEstimates(),
                 warn_within_budget=True, lookahead=True)


def ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def measure(hosts: int, *, preview: bool) -> dict[str, float]:
    cloud = synthetic_cloud(hosts, seed=hosts)
    rules = placement_rules(cloud.instances, cloud.groups)
    pending = cloud.hosts[: hosts // 2]
    maintained = set(cloud.hosts[hosts // 2: hosts * 3 // 4])
    row: dict[str, float] = {"hosts": hosts, "instances": len(cloud.snap.servers)}
    t = time.perf_counter()
    host = host_to_empty(cloud.snap, pending, maintained, rules)
    row["host_to_empty_ms"] = ms(t)
    t = time.perf_counter()
    evacuation_plan(cloud.snap, host or pending[0], preferred=maintained, avoid=set(pending), rules=rules)
    row["evacuation_plan_ms"] = ms(t)
    t = time.perf_counter()
    capacity_shortfall(cloud.snap, pending)
    row["capacity_shortfall_ms"] = ms(t)
    pacer = pacer_for(cloud)
    t = time.perf_counter()
    pacer.decide(0.0)
    row["decide_first_ms"] = ms(t)
    steady = []
    for k in range(1, 6):
        t = time.perf_counter()
        pacer.decide(float(k))  # nothing changed: what a wake-up or a reply that changes nothing costs
        steady.append(ms(t))
    row["decide_steady_ms"] = sorted(steady)[len(steady) // 2]
    if preview:
        t = time.perf_counter()
        simulate(cloud.snap, cloud.hosts, PlanInput(hosts=cloud.hosts), cloud.instances, cloud.groups,
                 MoveEstimates())
        row["preview_s"] = ms(t) / 1000
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--no-preview", action="store_true", help="skip the plan preview (the slowest part)")
    args = parser.parse_args()
    table = Table(title="planner at size (ms, preview in s)")
    cols = ["hosts", "instances", "host_to_empty_ms", "evacuation_plan_ms", "capacity_shortfall_ms",
            "decide_first_ms", "decide_steady_ms", "preview_s"]
    for c in cols:
        table.add_column(c, justify="right")
    console = Console(width=160)
    for n in args.hosts:
        row = measure(n, preview=not args.no_preview)
        console.print(row)  # as it comes: a preview at size takes a while
        table.add_row(*(f"{row[c]:.0f}" if c in ("hosts", "instances") else f"{row[c]:.2f}" if c in row else "-"
                        for c in cols))
    console.print(table)


if __name__ == "__main__":
    main()
