"""A host's facts before and after its maintenance, what changed, and the capacity figures of the session's end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from fenix.models.cloud import Server

if TYPE_CHECKING:  # session.py imports this module for its records
    from fenix.models.session import HostRecord, ProjectRecord


class HostFacts(BaseModel):
    """What a workload may rely on when it lands on a host (`CloudDriver.host_facts`): the hypervisor, its traits
    (Placement) and the host aggregates it is in (Nova). Sorted lists, so two reads compare equal when nothing
    changed."""

    hypervisor_type: str | None = None
    hypervisor_version: int | None = None  # as Nova reports it: 8002000 is QEMU 8.2.0
    traits: list[str] = Field(default_factory=list)
    aggregates: list[str] = Field(default_factory=list)
    # Set where `traits` is left out (a host record, below): how many there are.
    traits_count: int | None = None

    def brief(self) -> dict[str, Any]:
        """Without the traits: a real compute node reports ~100, and 1,000 host records with two lists each would
        pass Temporal's 2 MB payload limit in a session's detail. `HostChanges` keeps those that changed; the full
        lists are in the disable_host / enable_host results of the history."""
        count = len(self.traits) if self.traits_count is None else self.traits_count
        return {**self.model_dump(exclude={"traits", "traits_count"}), "traits_count": count}


class ValueChange(BaseModel):
    before: Any = None
    after: Any = None


class HostChanges(BaseModel):
    """What maintenance changed on one host; empty lists and None: nothing of that kind."""

    hypervisor_type: ValueChange | None = None
    hypervisor_version: ValueChange | None = None
    traits_added: list[str] = Field(default_factory=list)
    traits_removed: list[str] = Field(default_factory=list)
    aggregates_added: list[str] = Field(default_factory=list)
    aggregates_removed: list[str] = Field(default_factory=list)

    @classmethod
    def between(cls, before: HostFacts, after: HostFacts) -> HostChanges:
        def value(a: object, b: object) -> ValueChange | None:
            return None if a == b else ValueChange(before=a, after=b)

        return cls(hypervisor_type=value(before.hypervisor_type, after.hypervisor_type),
                   hypervisor_version=value(before.hypervisor_version, after.hypervisor_version),
                   traits_added=sorted(set(after.traits) - set(before.traits)),
                   traits_removed=sorted(set(before.traits) - set(after.traits)),
                   aggregates_added=sorted(set(after.aggregates) - set(before.aggregates)),
                   aggregates_removed=sorted(set(before.aggregates) - set(after.aggregates)))

    @property
    def empty(self) -> bool:
        return self == HostChanges()


class Usage(BaseModel):
    """What some instances take: how many, their vCPUs and RAM."""

    instances: int = 0
    vcpus: int = 0
    memory_mb: int = 0


class CapacityRequest(BaseModel):
    projects: list[str] = Field(default_factory=list)  # whose usage to count (all servers of each, anywhere)


class CapacityFigures(BaseModel):
    """`capacity_figures`: free capacity on the enabled compute hosts that are up, and each asked project's usage.
    Bounded by the number of projects asked, not by the size of the cloud."""

    hosts: int = 0  # enabled and up
    free_vcpus: int = 0
    free_memory_mb: int = 0
    usage: dict[str, Usage] = Field(default_factory=dict)


# How many host names one list of a MAINTENANCE_COMPLETE notice names at most (the count says how many there are):
# the notice goes to every project, so it must not grow with the cloud.
NOTICE_HOSTS_MAX = 100
# How many distinct changes it describes at most (a rolling upgrade makes the same change on every host: one group).
NOTICE_CHANGE_GROUPS_MAX = 20


def usage_by_project(servers: Iterable[Server]) -> dict[str, Usage]:
    """What each project's servers take, from one read of the cloud."""
    usage: dict[str, Usage] = {}
    for s in servers:
        u = usage.get(s.project_id, Usage())
        usage[s.project_id] = Usage(instances=u.instances + 1, vcpus=u.vcpus + s.vcpus,
                                    memory_mb=u.memory_mb + s.memory_mb)
    return usage


def note_start(projects: list[ProjectRecord], servers: Iterable[Server]) -> None:
    """Each project's usage at the session's first look (the end tells it how far it may grow back)."""
    usage = usage_by_project(servers)
    for p in projects:
        p.usage_at_start = usage.get(p.project_id)


def note_after(record: HostRecord, facts: HostFacts | None) -> None:
    """The host's facts as it came back into service, and what changed since it was taken out."""
    if facts is None:
        return
    record.capabilities_after = facts
    if record.capabilities_before is not None:
        record.changes = HostChanges.between(record.capabilities_before, facts)


def capabilities_notice(hosts: list[HostRecord]) -> dict[str, Any]:
    """MAINTENANCE_COMPLETE's `capabilities` (docs/notifications.md): the hosts maintained and back in service, and
    what changed on them, hosts with the same change in one group."""
    back = [h.name for h in hosts if h.maintained and not h.disabled_by_session]
    groups: dict[str, tuple[HostChanges, list[str]]] = {}
    for h in hosts:
        if h.changes is not None and not h.changes.empty:
            key = h.changes.model_dump_json()
            groups.setdefault(key, (h.changes, []))[1].append(h.name)
    ordered = sorted(groups.values(), key=lambda g: (-len(g[1]), g[1][0]))
    changes = [{"hosts": names[:NOTICE_HOSTS_MAX], "hosts_total": len(names),
                **change.model_dump(mode="json", exclude_defaults=True)}
               for change, names in ordered[:NOTICE_CHANGE_GROUPS_MAX]]
    return {"hosts": back[:NOTICE_HOSTS_MAX], "hosts_total": len(back),
            "hosts_changed": sum(len(names) for _, names in groups.values()), "changes": changes}


def scale_out_notice(project: ProjectRecord, figures: CapacityFigures) -> dict[str, Any]:
    """MAINTENANCE_COMPLETE's `scale_out` for one project: what it gave up during the session (its usage at the
    session's first look less its usage now, never below 0) and the free capacity of the cloud now."""
    start = project.usage_at_start or Usage()
    now = figures.usage.get(project.project_id, Usage())
    return {"scaled_in": {"instances": max(0, start.instances - now.instances),
                          "vcpus": max(0, start.vcpus - now.vcpus),
                          "memory_mb": max(0, start.memory_mb - now.memory_mb)},
            "usage_at_start": start.model_dump(), "usage_now": now.model_dump(),
            "free": {"hosts": figures.hosts, "vcpus": figures.free_vcpus, "memory_mb": figures.free_memory_mb}}
