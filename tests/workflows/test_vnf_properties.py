"""Property: over generated clouds, a `vnf` session never breaks a group's constraints and maintains every host.

Hypothesis draws hosts, capacities, instance groups with random constraints (anti-affinity, max_instances_per_host,
max_impacted_members, recovery_time), instances with random lead times and move types, projects that ACK or stay
silent, and a parallel-host bound. Each example is a whole session through the API on the time-skipping server;
the checks read the simulated cloud's migration log (stamped in Temporal's time), not the session's own records.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from demo.vnfm import VnfmProject
from fenix.checks import constraint_violations
from fenix.cloud.simulated import SimGroupSpec, SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import GroupPolicy
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceMigrationType
from fenix.models.session import InstanceAction, SessionState
from tests.checks import assert_cloud_sound


@dataclass
class GroupDraw:
    project: str
    members: int
    anti_affinity: bool
    nova_group: bool  # also a Nova anti-affinity server group (Fenix's advice), or only Fenix's constraint
    max_per_host: int
    max_impacted: int
    recovery: int
    lead: int
    live: bool


@dataclass
class CloudDraw:
    hosts: int
    vcpus: int
    groups: list[GroupDraw]
    silent: set[str]
    parallel: int


@st.composite
def clouds(draw: st.DrawFn) -> CloudDraw:
    hosts = draw(st.integers(3, 6))
    groups = []
    for _ in range(draw(st.integers(1, 4))):
        anti = draw(st.booleans())
        per_host = 1 if anti else draw(st.integers(0, 2))
        # Enough hosts stay up for every member while one host is down (a cloud a session can maintain).
        most = (hosts - 1) * per_host if per_host else 6
        groups.append(GroupDraw(project=draw(st.sampled_from(["p1", "p2", "p3"])),
                                members=draw(st.integers(1, min(5, most))), anti_affinity=anti,
                                nova_group=anti and draw(st.booleans()), max_per_host=per_host,
                                max_impacted=draw(st.integers(1, 3)), recovery=draw(st.integers(0, 60)),
                                lead=draw(st.integers(0, 60)), live=draw(st.booleans())))
    return CloudDraw(hosts=hosts, vcpus=draw(st.integers(6, 10)), groups=groups,
                     silent=draw(st.sets(st.sampled_from(["p1", "p2", "p3"]))), parallel=draw(st.integers(1, 4)))


def build(c: CloudDraw) -> tuple[SimSeed, dict[str, tuple[GroupDraw, str]]]:
    """Seed with members placed by hand within their group's limits (the scheduler knows no Fenix constraints)."""
    seed = SimSeed(hosts=[SimHostSpec(name=f"h{i}", vcpus=c.vcpus, memory_mb=c.vcpus * 2048) for i in range(c.hosts)])
    load = [0] * c.hosts
    member_of: dict[str, tuple[GroupDraw, str]] = {}
    for n, g in enumerate(c.groups):
        gname = f"g{n}"
        if g.nova_group:
            seed.groups.append(SimGroupSpec(name=gname, project_id=g.project, policy=GroupPolicy.ANTI_AFFINITY))
        per: dict[int, int] = {}
        for k in range(g.members):
            limit = g.max_per_host or 99
            h = min((i for i in range(c.hosts) if per.get(i, 0) < limit), key=lambda i: (load[i], i))
            per[h] = per.get(h, 0) + 1
            load[h] += 1
            name = f"{gname}-{k}"
            seed.servers.append(SimServerSpec(name=name, project_id=g.project, vcpus=1, memory_mb=1024, host=f"h{h}",
                                              group=gname if g.nova_group else None))
            member_of[name] = (g, gname)
    return seed, member_of


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(c=clouds())
async def test_vnf_sessions_keep_every_constraint(ts_env: WorkflowEnvironment, c: CloudDraw) -> None:
    seed, member_of = build(c)
    projects = sorted({g.project for g in c.groups})
    vnfms = [VnfmProject(project_id=p, token="", action=InstanceAction.LIVE_MIGRATE,
                         behaviour="silent" if p in c.silent else "ack") for p in projects]
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(ts_env, Path(tmp), seed, vnfms, skip_time=True) as stk:
            before = stk.cloud.snapshot()
            instances: list[InstanceConstraints] = []
            groups: list[GroupConstraints] = []
            for n, g in enumerate(c.groups):
                body = {"project_id": g.project, "anti_affinity_group": g.anti_affinity,
                        "max_instances_per_host": g.max_per_host, "max_impacted_members": g.max_impacted,
                        "recovery_time": g.recovery}
                async with stk.as_project(g.project) as http:
                    r = await http.put(f"/instance_group/g{n}", json=body)
                    assert r.status_code == 200, r.text
                groups.append(GroupConstraints(group_id=f"g{n}", **body))
            for server in before.servers:
                g, gname = member_of[server.name]
                mtype = InstanceMigrationType.LIVE_MIGRATE if g.live else InstanceMigrationType.MIGRATE
                body = {"project_id": g.project, "group_id": gname, "lead_time": g.lead,
                        "migration_type": mtype.value, "max_interruption_time": 120}
                async with stk.as_project(g.project) as http:
                    r = await http.put(f"/instance/{server.id}", json=body)
                    assert r.status_code == 200, r.text
                instances.append(InstanceConstraints(instance_id=server.id, **body))
            sid = await stk.start(workflow="vnf", max_parallel_hosts=c.parallel)
            detail = await stk.result(sid, timeout=150)
            assert detail.state == SessionState.MAINTENANCE_DONE, (detail.reason, c)
            assert_cloud_sound(stk.cloud, before, detail)
            assert constraint_violations(stk.cloud, before, instances, groups) == []
            assert all(h.maintained for h in detail.hosts)
            assert {s.id for s in stk.cloud.snapshot().servers} == {s.id for s in before.servers}, "instance lost"
