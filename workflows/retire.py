"""Retiring hosts (use case 9): a session with `retire: true` empties its hosts as a maintenance would, then leaves
them disabled for good instead of upgrading and enabling them.

Everything here runs only under `inp.retire`: a session without it issues the commands it always did. What keeps a
retired host disabled through any later failure or abort is its new disable reason (fenix.constants.retired_reason):
every re-enable (the session's cleanup, the abort workflow, a host child) enables only a host that carries the
session's own `disable_reason`, so none needs to know about retirement.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.constants import retired_reason
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.cloud_ops import HostResult
    from fenix.models.hosts import HostState
    from fenix.models.session import HostPhase, SessionDetail, SessionInput
    from workflows.host_events import send_host_event
    from workflows.outbox import Outbox


def retire_metadata(snap: CloudSnapshot, targets: list[str]) -> dict[str, object]:
    """What the MAINTENANCE notice adds for a `retire` session: the capacity that goes away for good."""
    gone = [h for h in snap.hosts if h.name in set(targets)]
    return {"retire": True, "capacity_removed": {"hosts": len(gone), "vcpus": sum(h.vcpus for h in gone),
                                                 "memory_mb": sum(h.memory_mb for h in gone)}}


def retired_in_cloud(enable: HostResult, inp: SessionInput) -> bool:
    """Whether a host the cleanup meant to enable again had been retired meanwhile (the enable left it alone)."""
    return not enable.host.enabled and enable.host.disabled_reason == retired_reason(inp.session_id)


def host_retired(detail: SessionDetail, outbox: Outbox, inp: SessionInput, host: str) -> None:
    """Book a host its child retired: done for the session (`maintained`), never a target, RETIRED to services."""
    record = detail.host(host)
    record.maintained, record.retired, record.disabled_by_session = True, True, False
    record.phase = HostPhase.RETIRED
    send_host_event(outbox, inp, host, HostState.RETIRED)
