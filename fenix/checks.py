"""Checks of a session's run against the simulated cloud's own record, independent of the session's bookkeeping.

Used by the tests (tests/workflows/test_vnf_properties.py) and by the benchmark (bench/, which counts
violations per run), so it lives in the library both may import.
"""

from __future__ import annotations

from fenix.cloud.simulated import SimulatedCloud
from fenix.models.cloud import CloudSnapshot
from fenix.models.constraints import GroupConstraints, InstanceConstraints


def constraint_violations(cloud: SimulatedCloud, before: CloudSnapshot, instances: list[InstanceConstraints],
                          groups: list[GroupConstraints]) -> list[str]:
    """Every breach of the groups' constraints over the whole session, read from the cloud's migration log.

    Independent of the session's own bookkeeping: the simulator stamps each move with its start and end in
    Temporal's time, so recovery times can be checked against it. A move holds a slot of its group from its start
    until `recovery_time` after its end; a moving member counts on both hosts (as Nova claims both).
    """
    log = sorted(cloud.migration_log(), key=lambda m: (m.started_at, m.id))
    group_of = {i.instance_id: i.group_id for i in instances if i.group_id}
    by_id = {g.group_id: g for g in groups}
    problems: list[str] = []
    for m in log:
        g = by_id.get(group_of.get(m.server_id, ""))
        if g is None:
            continue
        holding = [o for o in log if o.id != m.id and group_of.get(o.server_id) == g.group_id
                   and o.started_at <= m.started_at < (o.finished_at or o.ends_at) + g.recovery_time - 1e-6]
        if len(holding) >= g.max_impacted_members:
            problems.append(f"group {g.group_id}: move of {m.server_id} at {m.started_at:.1f} while "
                            f"{[o.server_id for o in holding]} still held its {g.max_impacted_members} slot(s)")
    where: dict[str, set[str]] = {s.id: {s.host} for s in before.servers if s.host}
    events = sorted([(m.started_at, 0, m) for m in log] + [((m.finished_at or m.ends_at), 1, m) for m in log],
                    key=lambda e: (e[0], e[1], e[2].id))
    for at, kind, m in events:
        if kind == 0:
            where.setdefault(m.server_id, set()).add(m.dest_host or "")
        else:
            ok = m.status.value in ("completed", "confirmed", "finished")
            where[m.server_id] = {(m.dest_host or "") if ok else m.source_host}
        for g in groups:
            limit = 1 if g.anti_affinity_group else g.max_instances_per_host
            if limit <= 0:
                continue
            count: dict[str, int] = {}
            for sid, hosts in where.items():
                if group_of.get(sid) == g.group_id:
                    for h in hosts:
                        count[h] = count.get(h, 0) + 1
            over = {h: c for h, c in count.items() if c > limit}
            if over:
                problems.append(f"group {g.group_id}: more than {limit} member(s) on {over} at {at:.1f}")
    return problems
