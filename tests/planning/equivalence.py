"""Every decision of the planners on a set of random clouds, as one digest per cloud (tests/planning/equivalence.json).

The planners run in workflow code: a faster version must decide exactly as the recorded one did, or the replay of a
running session breaks. `python -m tests.planning.equivalence` records the digests with the code as it is (it was
run on the code before the planners were optimised); test_equivalence.py compares against them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any
from unittest import mock

from bench.planner import Cloud, synthetic_cloud
from fenix.models.cloud import CloudSnapshot, ComputeHost, Server
from fenix.models.plan import MoveEstimates, PlanInput
from fenix.models.session import InstanceAction
from fenix.planning import preview
from fenix.planning.pacer import Pacer
from fenix.planning.placement import (
    capacity_shortfall,
    choose_target,
    evacuation_plan,
    host_to_empty,
    placement_rules,
)

FIXTURE = Path(__file__).with_name("equivalence.json")
SMALL = 300
# (hosts, default-flow rounds, vnf planning steps): large clouds, a few rounds each (a full run takes minutes).
LARGE = ((120, 3, 40), (250, 2, 25))
# Pacer options of sessions started by different releases (workflows/vnf.py): each must still decide as it did.
FLAGS = ({"warn_within_budget": True, "lookahead": True}, {"warn_within_budget": True, "lookahead": False},
         {"warn_within_budget": False, "lookahead": False})


def small_cloud(seed: int) -> Cloud:
    rng = random.Random(seed)
    return synthetic_cloud(rng.randint(2, 14), seed, per_host=rng.randint(1, 6), sizes=(1, 1, 2, 4),
                           vcpus=rng.choice((8, 16, 16)), memory_mb=rng.choice((8192, 16384, 32768)),
                           spare=rng.randint(0, 3), grouped=rng.choice((3, 5, 12)))


def moved(snap: CloudSnapshot, plan: dict[str, str]) -> CloudSnapshot:
    """The snapshot after `plan` ran: servers on their targets, usage recomputed."""
    servers = [Server(**{**s.model_dump(), "host": plan.get(s.id, s.host)}) for s in snap.servers]
    hosts = [ComputeHost(**{**h.model_dump(), "vcpus_used": sum(s.vcpus for s in servers if s.host == h.name),
                            "memory_mb_used": sum(s.memory_mb for s in servers if s.host == h.name)})
             for h in snap.hosts]
    return CloudSnapshot(hosts=hosts, servers=servers, server_groups=snap.server_groups)


def default_flow(cloud: Cloud, rounds: int, rng: random.Random) -> list[Any]:
    """The default flow's choices round by round (workflows/default_flow.py), each host's plan run at once."""
    out: list[Any] = []
    rules = placement_rules(cloud.instances, cloud.groups)
    snap = cloud.snap
    pending = sorted(rng.sample(cloud.hosts, max(1, len(cloud.hosts) * 2 // 3)))
    maintained: set[str] = set()
    for _ in range(rounds):
        empty = [h for h in pending if not snap.servers_on(h)]
        if empty:
            pending = [h for h in pending if h not in empty]
            maintained |= set(empty)
        if not pending:
            break
        host = host_to_empty(snap, pending, maintained, rules)
        out.append(["host", host, list(capacity_shortfall(snap, pending))])
        for server in rng.sample(snap.servers, min(3, len(snap.servers))):  # the instance lane's one-off choice
            out.append(["target", server.id, choose_target(snap, server, preferred=maintained, avoid=set(pending),
                                                           rules=rules)])
        if host is None:
            break
        leaving = {s.id for s in snap.servers_on(host) if rng.random() < 0.1}
        partial = evacuation_plan(snap, host, preferred=maintained, avoid=set(pending), leaving=leaving, rules=rules)
        out.append(["leaving", sorted(leaving), None if partial is None else list(partial.items())])
        plan = evacuation_plan(snap, host, preferred=maintained, avoid=set(pending), rules=rules)
        assert plan is not None
        out.append(["plan", list(plan.items())])
        snap = moved(snap, plan)
        pending.remove(host)
        maintained.add(host)
    return out


def vnf_flow(cloud: Cloud, flags: dict[str, bool], inp: PlanInput, steps: int) -> list[Any]:
    """Every decision of a plan preview's Pacer as a session's would be (with its holds), and the preview itself."""
    decisions: list[Any] = []

    class Recording(Pacer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("explain", None)  # a session's Pacer explains every decision
            super().__init__(*args, **{**kwargs, **flags})

        def decide(self, now: float) -> Any:
            d = super().decide(now)
            decisions.append([now, asdict(d)])
            return d

    with mock.patch.object(preview, "Pacer", Recording), mock.patch.object(preview, "MAX_STEPS", steps):
        _, result = preview.simulate(cloud.snap, inp.hosts, inp, cloud.instances, cloud.groups, MoveEstimates(),
                                     lookahead=flags["lookahead"])
    return [decisions, result.model_dump(mode="json")]


def plan_preview(cloud: Cloud, flags: dict[str, bool], inp: PlanInput, steps: int) -> Any:
    """The plan preview alone, its Pacer as the preview makes it (without holds) but for the release's options."""
    class Options(Pacer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, **flags})

    with mock.patch.object(preview, "Pacer", Options), mock.patch.object(preview, "MAX_STEPS", steps):
        _, result = preview.simulate(cloud.snap, inp.hosts, inp, cloud.instances, cloud.groups, MoveEstimates(),
                                     lookahead=flags["lookahead"])
    return result.model_dump(mode="json")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def case(name: str) -> dict[str, str]:
    """The digests of one named case: `small-<seed>` or `large-<hosts>`."""
    kind, num = name.split("-")
    seed = int(num)
    if kind == "small":
        cloud, rounds, steps = small_cloud(seed), 50, 2000
    else:
        rounds, steps = next((r, s) for h, r, s in LARGE if h == seed)
        cloud = synthetic_cloud(seed, seed)
    rng = random.Random(seed)
    flags = FLAGS[seed % len(FLAGS)]
    session = sorted(rng.sample(cloud.hosts, max(1, len(cloud.hosts) * 3 // 4)))
    inp = PlanInput(hosts=session, max_parallel_hosts=rng.choice((1, 2, 4)), warn_ahead=rng.random() < 0.8,
                    default_action=rng.choice((InstanceAction.LIVE_MIGRATE, InstanceAction.MIGRATE)))
    return {"default": digest(default_flow(cloud, rounds, rng)), "vnf": digest(vnf_flow(cloud, flags, inp, steps)),
            "preview": digest(plan_preview(cloud, flags, inp, steps))}


def names() -> list[str]:
    return [f"small-{s}" for s in range(SMALL)] + [f"large-{h}" for h, _, _ in LARGE]


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps({n: case(n) for n in names()}, indent=0, sort_keys=True) + "\n")
