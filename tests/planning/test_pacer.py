"""`Pacer.decide(now)` on tiny hand-made clouds: a few hosts and instances, driven event by event.

Each test plays the workflow's part by hand (tests/planning/test_pacer_lookahead.py and the plan preview drive the
same planner through a simulation): it calls `decide` at chosen moments and reports what happened with
`action_done`, `host_maintained`, `replied` and `delivered`. Times are seconds from the session's start.

Unless a test says otherwise: every instance is registered with migration_type LIVE_MIGRATE, hosts outside the
session are the only targets, and the Pacer warns within the group budget (warn_within_budget, the rule every new
session paces by) without the admission look-ahead.
"""

from __future__ import annotations

from typing import Any

from fenix.models.cloud import CloudSnapshot, ComputeHost, Server
from fenix.models.constraints import GroupConstraints, InstanceConstraints, InstanceMigrationType
from fenix.models.session import InstanceAction
from fenix.planning.model import Act, Decision, HostStep, ScaleInNeed, Step
from fenix.planning.pacer import Pacer

LIVE = InstanceAction.LIVE_MIGRATE


def vm(sid: str, host: str, *, vcpus: int = 1, memory_mb: int = 1024, project: str = "p") -> Server:
    return Server(id=sid, name=sid, project_id=project, host=host, vcpus=vcpus, memory_mb=memory_mb)


def cloud(hosts: dict[str, tuple[int, int]], servers: list[Server]) -> CloudSnapshot:
    """Hosts by name: (vCPUs, MB); what the servers on a host use is counted as used."""
    return CloudSnapshot(
        hosts=[ComputeHost(name=name, vcpus=vcpus, memory_mb=mb,
                           vcpus_used=sum(s.vcpus for s in servers if s.host == name),
                           memory_mb_used=sum(s.memory_mb for s in servers if s.host == name))
               for name, (vcpus, mb) in hosts.items()],
        servers=servers)


def member(sid: str, group: str | None = None, *, lead: int = 0, project: str = "p") -> InstanceConstraints:
    return InstanceConstraints(instance_id=sid, project_id=project, group_id=group, lead_time=lead,
                               migration_type=InstanceMigrationType.LIVE_MIGRATE)


def group(gid: str, *, max_impacted: int = 1, recovery: int = 0, anti_affinity: bool = False,
          max_per_host: int = 0, project: str = "p", mitigation: bool = True) -> GroupConstraints:
    return GroupConstraints(group_id=gid, project_id=project, max_impacted_members=max_impacted,
                            recovery_time=recovery, anti_affinity_group=anti_affinity,
                            max_instances_per_host=max_per_host, resource_mitigation=mitigation)


def pacer(snap: CloudSnapshot, session: list[str], instances: list[InstanceConstraints],
          groups: list[GroupConstraints] | None = None, **options: Any) -> Pacer:
    options = {"max_parallel_hosts": 1, "warn_within_budget": True, **options}
    return Pacer(snap, session, instances=instances, groups=groups or [], default_action=LIVE, **options)


def notified(d: Decision) -> list[str]:
    return [n.instance_id for n in d.notify]


def test_empty_hosts_go_first() -> None:
    # h0 sorts first and its instance could move to h2 at once, but h1 is empty: it needs no move at all.
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192), "h2": (4, 8192)}, [vm("a", "h0")])
    p = pacer(snap, ["h0", "h1"], [member("a", lead=10)])

    d = p.decide(0)
    assert d.start == ["h1"] and d.maintain == ["h1"]  # started and, being empty, maintained at once
    assert p.hosts == {"h0": HostStep.PENDING, "h1": HostStep.MAINTAINING}
    assert d.holds["h0"] == ["parallel limit: 1 of max_parallel_hosts 1 host(s) in progress"]
    assert notified(d) == ["a"]  # warned ahead: h0 comes next, its lead time runs meanwhile

    p.host_maintained("h1")
    d = p.decide(1)
    assert d.start == ["h0"] and d.maintain == []


def test_a_group_budget_counts_warned_members() -> None:
    # Three members of a group that may have two impacted at once, all on h0, with a long lead time.
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192)}, [vm("a", "h0"), vm("b", "h0"), vm("c", "h0")])
    members = [member(i, "g", lead=100) for i in ("a", "b", "c")]

    # Within the budget: only two members may be warned, although none is acting yet.
    p = pacer(snap, ["h0"], members, [group("g", max_impacted=2)])
    d = p.decide(0)
    assert d.start == ["h0"] and notified(d) == ["a", "b"]
    assert [n.actions_at for n in d.notify] == [100, 100]
    assert p.decide(50).notify == []  # still two warned, none acting

    d = p.decide(100)  # their lead time is over: both act; c waits for a slot
    assert d.act == [Act("a", LIVE, "h1"), Act("b", LIVE, "h1")] and d.notify == []
    p.action_done("a", 103, "h1")
    d = p.decide(103)  # a is done (no recovery time): its slot goes to c
    assert notified(d) == ["c"] and d.notify[0].actions_at == 203
    assert p.insts["b"].step == Step.ACTING  # so: b acting + c warned = 2, never more

    # The older rule (sessions started before it; the budget counts from the action): all three are warned.
    p = pacer(snap, ["h0"], members, [group("g", max_impacted=2)], warn_within_budget=False)
    assert notified(p.decide(0)) == ["a", "b", "c"]


def test_recovery_time_is_respected_between_rounds() -> None:
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192)}, [vm("a", "h0"), vm("b", "h0")])
    p = pacer(snap, ["h0"], [member("a", "g"), member("b", "g")], [group("g", max_impacted=1, recovery=30)])

    d = p.decide(0)  # no lead time: a is warned and acts at once
    assert notified(d) == ["a"] and d.act == [Act("a", LIVE, "h1")]
    p.action_done("a", 5, "h1")

    d = p.decide(5)
    assert d.notify == [] and d.act == []
    assert d.wake_at == 35  # a's recovery ends at 5 + 30: the planner asks to be woken then
    assert p.decide(34.9).notify == []

    d = p.decide(35)
    assert notified(d) == ["b"] and d.act == [Act("b", LIVE, "h1")]


def test_targets_keep_anti_affinity() -> None:
    # b, a's anti-affinity peer, is on h1 outside the session. h1 is the best fit (least free RAM after the move),
    # so only the rule keeps a off it.
    snap = cloud({"h0": (4, 8192), "h1": (4, 4096), "h2": (4, 8192)}, [vm("a", "h0"), vm("b", "h1")])
    groups = [group("ha", anti_affinity=True)]
    p = pacer(snap, ["h0"], [member("a", "ha"), member("b", "ha")], groups)
    assert p.decide(0).act == [Act("a", LIVE, "h2")]

    # Without the rule, the same cloud sends a to h1: the test above is not passing by chance.
    p = pacer(snap, ["h0"], [member("a", "ha"), member("b", "ha")], [group("ha")])
    assert p.decide(0).act == [Act("a", LIVE, "h1")]


def test_targets_keep_max_instances_per_host() -> None:
    # Three members move at once; h1 is the best fit for each, but takes at most two of them.
    snap = cloud({"h0": (4, 8192), "h1": (4, 4096), "h2": (8, 16384)}, [vm(i, "h0") for i in ("a", "b", "c")])
    members = [member(i, "g") for i in ("a", "b", "c")]
    p = pacer(snap, ["h0"], members, [group("g", max_impacted=3, max_per_host=2)])
    assert p.decide(0).act == [Act("a", LIVE, "h1"), Act("b", LIVE, "h1"), Act("c", LIVE, "h2")]

    p = pacer(snap, ["h0"], members, [group("g", max_impacted=3)])
    assert p.decide(0).act == [Act("a", LIVE, "h1"), Act("b", LIVE, "h1"), Act("c", LIVE, "h1")]


def test_a_host_that_cannot_be_emptied_asks_to_scale_in_within_max_impacted() -> None:
    # Two full hosts, nowhere to go. h0 holds three members of g (two may be impacted) and u, ungrouped; h1 three
    # members of g2 (one may be impacted; it does not ask to keep its capacity, so it is asked first) and w.
    servers = [vm("a", "h0"), vm("b", "h0"), vm("c", "h0"), vm("u", "h0", project="q"),
               vm("x", "h1", project="r"), vm("y", "h1", project="r"), vm("z", "h1", project="r"),
               vm("w", "h1", project="q")]
    snap = cloud({"h0": (4, 4096), "h1": (4, 4096)}, servers)
    instances = [member(i, "g") for i in ("a", "b", "c")] + [member(i, "g2", project="r") for i in ("x", "y", "z")]
    groups = [group("g", max_impacted=2), group("g2", max_impacted=1, project="r", mitigation=False)]
    p = pacer(snap, ["h0", "h1"], instances, groups)

    d = p.decide(0)
    assert d.start == [] and d.notify == [] and d.act == [] and d.stuck is None
    # h0 (the first of two equal hosts) needs 4 vCPU / 4096 MB: g2 gives 1, g 2 (not 3), then u, one by one.
    assert d.scale_in == ScaleInNeed(host="h0", vcpus=4, memory_mb=4096, per_group={"g2": 1, "g": 2},
                                     per_project={"q": 1})
    assert d.holds["h0"] == ["capacity: its instances do not fit on the other hosts (short of 4 vCPU / 4096 MB)"]


def test_stuck_when_nothing_can_be_done() -> None:
    # a may not share a host with its anti-affinity peer b, which holds the only other host; a takes no capacity,
    # so removing instances would free nothing it needs: no host can start, and no SCALE_IN would help. (An
    # instance that takes capacity gets a SCALE_IN ask instead, even where a rule blocks it: the planner asks to
    # free at least that instance's size.)
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192)}, [vm("a", "h0", vcpus=0, memory_mb=0), vm("b", "h1")])
    p = pacer(snap, ["h0"], [member("a", "ha"), member("b", "ha")], [group("ha", anti_affinity=True)])

    d = p.decide(0)
    assert d.start == [] and d.notify == [] and d.act == [] and d.scale_in is None
    assert d.stuck == ("no host can be emptied: h0: capacity: its instances do not fit on the other hosts "
                       "(fragmentation, anti-affinity or max_instances_per_host)")


def test_serial_projects_get_one_question_at_a_time() -> None:
    # A Fenix-era VNFM's reply names no instance: only one of its instances may wait for a reply at a time.
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192)}, [vm("a", "h0"), vm("b", "h0"), vm("c", "h0", project="q")])
    instances = [member("a", lead=10), member("b", lead=10), member("c", lead=10, project="q")]
    p = pacer(snap, ["h0"], instances)
    p.serial_projects = {"p"}

    d = p.decide(0)
    assert notified(d) == ["a", "c"]  # q answers per instance: it is asked at once
    assert p.decide(5).notify == []  # a's question is still open
    p.replied("a", LIVE)
    d = p.decide(6)
    assert notified(d) == ["b"] and d.act == [Act("a", LIVE, "h1")]

    p = pacer(snap, ["h0"], instances)  # not serial: everyone is asked at once
    assert notified(p.decide(0)) == ["a", "b", "c"]


def test_lead_time_runs_from_the_delivery() -> None:
    snap = cloud({"h0": (4, 8192), "h1": (4, 8192)}, [vm("a", "h0")])
    p = pacer(snap, ["h0"], [member("a", lead=30)], lead_from_delivery=True)

    d = p.decide(0)
    assert d.notify[0].actions_at == 30  # planned from the sending
    d = p.decide(30)  # sent, but not delivered yet: its lead time has not begun
    assert d.act == []
    assert d.holds["h0"] == ["instance a (p): its notice has not reached p yet (its lead time runs from then)"]
    assert p.delivered("a", 20) == 50  # delivered at 20: actions_at is 20 + 30
    assert p.decide(49.9).act == []
    assert p.decide(50).act == [Act("a", LIVE, "h1")]

    # A notice that reached nobody (delivered None) keeps the planned time: the default applies then.
    p = pacer(snap, ["h0"], [member("a", lead=30)], lead_from_delivery=True)
    p.decide(0)
    assert p.delivered("a", None) == 30
    assert p.decide(30).act == [Act("a", LIVE, "h1")]

    # Without the rule the action comes at the planned time, delivered or not.
    p = pacer(snap, ["h0"], [member("a", lead=30)])
    p.decide(0)
    assert p.decide(30).act == [Act("a", LIVE, "h1")]
