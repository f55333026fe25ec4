"""The planner's vocabulary: instances, groups and hosts as it tracks them, and the decisions it returns.

Plain dataclasses and enums, no logic beyond `group_from` and `allowed_actions`: the vnf flow (workflows/vnf.py)
and the plan preview (fenix/planning/preview.py) read them, and the planner's modules share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fenix.models.constraints import GroupConstraints
from fenix.models.session import InstanceAction


class Step(StrEnum):
    PENDING = "pending"  # not yet warned
    NOTIFIED = "notified"  # warned; acts at its ACK or actions_at, once its group has a free slot
    ACTING = "acting"  # being moved / evicted / handled by its owner
    DONE = "done"  # off its host (or gone)


class HostStep(StrEnum):
    PENDING = "pending"
    DRAINING = "draining"  # disabled, instances leaving
    MAINTAINING = "maintaining"  # empty; plug-ins run, then it is enabled again
    DONE = "done"


@dataclass
class Group:
    id: str
    project_id: str
    max_impacted: int = 1
    recovery_s: float = 0.0
    anti_affinity: bool = False
    max_per_host: int = 0  # 0: no limit
    mitigation: bool = True  # keep its capacity: scaled in only after groups that do not ask for it


@dataclass
class Inst:
    id: str
    name: str
    project_id: str
    host: str  # where it is now (its target once a move starts)
    vcpus: int
    memory_mb: int
    group: str | None
    lead_s: float
    max_interruption_s: float
    migration_type: InstanceAction
    registered: bool  # constraints were registered for it
    origin: str = ""  # the session host it must leave
    step: Step = Step.PENDING
    notified_at: float | None = None
    actions_at: float | None = None
    replied: bool = False
    undelivered: bool = False  # warned, but the notice has not reached its project: its lead time has not begun
    action: InstanceAction | None = None
    action_source: str = ""  # "reply" or "default: ..." (why)
    source: str | None = None  # while acting: the host it leaves
    done_at: float | None = None
    retry_at: float | None = None
    failures: int = 0


@dataclass
class Act:
    instance_id: str
    action: InstanceAction
    target: str | None  # None for OWN_ACTION and EVICTION


@dataclass
class Notify:
    instance_id: str
    actions_at: float
    allowed: list[InstanceAction]


@dataclass
class ScaleInNeed:
    host: str  # the host that could be emptied once this much is freed
    vcpus: int
    memory_mb: int
    per_group: dict[str, int] = field(default_factory=dict)  # group id -> members to remove (<= max impacted)
    per_project: dict[str, int] = field(default_factory=dict)  # ungrouped instances per project


@dataclass
class Decision:
    start: list[str] = field(default_factory=list)
    notify: list[Notify] = field(default_factory=list)
    act: list[Act] = field(default_factory=list)
    maintain: list[str] = field(default_factory=list)
    wake_at: float | None = None
    holds: dict[str, list[str]] = field(default_factory=dict)
    # The same, as (reason, project waited on or "") for the metrics (fenix/models/gauges.py HostWait).
    waits: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    scale_in: ScaleInNeed | None = None
    stuck: str | None = None  # nothing in progress and nothing can start: the session cannot go on


def group_from(g: GroupConstraints) -> Group:
    """The planner's copy of a group's constraints."""
    return Group(id=g.group_id, project_id=g.project_id, max_impacted=g.max_impacted_members,
                 recovery_s=float(g.recovery_time), anti_affinity=g.anti_affinity_group,
                 max_per_host=g.max_instances_per_host, mitigation=g.resource_mitigation)


def allowed_actions(inst: Inst) -> list[InstanceAction]:
    """What a project may choose for an instance: the engine's moves and its own action; eviction only with consent."""
    allowed = [InstanceAction.MIGRATE, InstanceAction.LIVE_MIGRATE, InstanceAction.OWN_ACTION]
    if inst.migration_type == InstanceAction.EVICTION:
        allowed.append(InstanceAction.EVICTION)
    return allowed
