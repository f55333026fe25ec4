"""Placement decisions alone (pure functions): tiers, best fit, anti-affinity, registered group rules, capacity in
vCPU and RAM."""

from __future__ import annotations

from fenix.models.cloud import CloudSnapshot, ComputeHost, GroupPolicy, Server, ServerGroup
from fenix.models.constraints import GroupConstraints, InstanceConstraints
from fenix.planning.placement import (
    capacity_shortfall,
    choose_target,
    evacuation_plan,
    host_to_empty,
    per_host_limit,
    placement_rules,
)


def cloud(hosts: dict[str, tuple[int, int]], servers: list[tuple[str, str, int, int]],
          anti_affinity: list[list[str]] | None = None, disabled: set[str] | None = None) -> CloudSnapshot:
    """hosts: name -> (vcpus, memory_mb); servers: (id, host, vcpus, memory_mb); usage is derived."""
    srv = [Server(id=i, name=i, project_id="p", host=h, vcpus=c, memory_mb=m) for i, h, c, m in servers]
    hs = [ComputeHost(name=n, vcpus=c, memory_mb=m, enabled=n not in (disabled or set()),
                      vcpus_used=sum(s.vcpus for s in srv if s.host == n),
                      memory_mb_used=sum(s.memory_mb for s in srv if s.host == n)) for n, (c, m) in hosts.items()]
    groups = [ServerGroup(id=f"g{k}", name=f"g{k}", project_id="p", policy=GroupPolicy.ANTI_AFFINITY, members=m)
              for k, m in enumerate(anti_affinity or [])]
    return CloudSnapshot(hosts=hs, servers=srv, server_groups=groups)


def server(snap: CloudSnapshot, sid: str) -> Server:
    return next(s for s in snap.servers if s.id == sid)


def test_prefers_maintained_then_outside_then_pending_hosts() -> None:
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192), "d": (8, 8192)}, [("x", "a", 1, 1024)])
    s = server(snap, "x")
    assert choose_target(snap, s, preferred={"d"}, avoid={"b", "c"}) == "d"
    assert choose_target(snap, s, preferred=set(), avoid={"b", "c"}) == "d"  # outside the session
    assert choose_target(snap, s, preferred=set(), avoid={"b", "c", "d"}) in {"b", "c"}


def test_best_fit_keeps_big_holes() -> None:
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192)},
                 [("x", "a", 1, 1024), ("y", "b", 1, 6144)])
    # c is empty, b is nearly full: the fitting host with least RAM left after the move is b.
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set()) == "b"


def test_never_a_disabled_host_or_one_with_an_anti_affinity_peer() -> None:
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192)},
                 [("x", "a", 1, 1024), ("peer", "b", 1, 1024)], anti_affinity=[["x", "peer"]], disabled={"c"})
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set()) is None


def test_ram_counts_not_only_vcpus() -> None:
    snap = cloud({"a": (8, 8192), "b": (8, 1024)}, [("x", "a", 1, 2048)])
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set()) is None
    assert capacity_shortfall(snap, ["a", "b"]) == (0, 0)  # b is empty: nothing to free
    assert capacity_shortfall(snap, ["a"]) == (0, 1024)


def test_evacuation_plan_accounts_for_what_it_already_placed() -> None:
    # Two 3 GiB servers must leave a; b has room for one only, c for the other.
    snap = cloud({"a": (8, 8192), "b": (8, 4096), "c": (8, 4096)},
                 [("x", "a", 1, 3072), ("y", "a", 1, 3072)])
    plan = evacuation_plan(snap, "a", preferred=set(), avoid=set())
    assert plan is not None and sorted(plan.values()) == ["b", "c"]
    # The anti-affinity peer moving in the same plan counts at its planned place.
    snap = cloud({"a": (8, 8192), "b": (8, 8192)}, [("x", "a", 1, 1024), ("y", "a", 1, 1024)],
                 anti_affinity=[["x", "y"]])
    assert evacuation_plan(snap, "a", preferred=set(), avoid=set()) is None


def test_host_to_empty_picks_the_least_to_move_that_can_be_emptied() -> None:
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192)},
                 [("x", "a", 1, 4096), ("y", "b", 1, 1024), ("z", "c", 1, 2048)])
    assert host_to_empty(snap, ["a", "b", "c"], set()) == "b"
    full = cloud({"a": (2, 2048), "b": (2, 2048)}, [("x", "a", 2, 2048), ("y", "b", 2, 2048)])
    assert host_to_empty(full, ["a", "b"], set()) is None
    assert capacity_shortfall(full, ["a", "b"]) == (2, 2048)


def _group(gid: str, members: list[str], **fields: object) -> tuple[list[InstanceConstraints], list[GroupConstraints]]:
    insts = [InstanceConstraints(instance_id=m, project_id="p", group_id=gid) for m in members]
    return insts, [GroupConstraints.model_validate({"group_id": gid, "project_id": "p", **fields})]


def test_registered_group_rules_filter_placement() -> None:
    # Best fit alone would put x on b, next to its peer; the registered anti-affinity group keeps it off b.
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192)},
                 [("x", "a", 1, 1024), ("peer", "b", 1, 1024), ("filler", "b", 1, 5120)])
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set()) == "b"
    rules = placement_rules(*_group("g", ["x", "peer"], anti_affinity_group=True))
    assert [(r.members, r.max_per_host) for r in rules] == [(["peer", "x"], 1)]
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set(), rules=rules) == "c"
    # max_instances_per_host 2: one peer on b leaves room for x; two do not.
    two = placement_rules(*_group("g", ["x", "peer", "y"], max_instances_per_host=2))
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set(), rules=two) == "b"
    snap = cloud({"a": (8, 8192), "b": (8, 8192), "c": (8, 8192)},
                 [("x", "a", 1, 1024), ("peer", "b", 1, 1024), ("y", "b", 1, 5120)])
    assert choose_target(snap, server(snap, "x"), preferred=set(), avoid=set(), rules=two) == "c"
    # A host that cannot be emptied without breaking the group is not chosen to empty.
    snap = cloud({"a": (8, 8192), "b": (8, 8192)}, [("x", "a", 1, 1024), ("peer", "b", 1, 1024)])
    assert host_to_empty(snap, ["a", "b"], set()) == "a"
    assert host_to_empty(snap, ["a", "b"], set(), rules) is None


def test_groups_that_cannot_break_their_rule_make_no_rule() -> None:
    assert placement_rules(*_group("g", ["x", "y"], max_instances_per_host=2)) == []
    assert placement_rules(*_group("g", ["x", "y"])) == []  # no limit at all
    assert per_host_limit(True, 3) == 1 and per_host_limit(False, 0) is None and per_host_limit(False, 2) == 2
