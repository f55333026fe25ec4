"""What the end of a session tells projects beyond "you may scale back out": the capabilities the maintenance
changed (each host read as it was disabled and as it came back), and how far each project may grow back.

The reads ride on activities the session issues anyway (`disable_host`, `enable_host` with `read_facts`), so a host
costs no extra history events; the end adds one `capacity_figures` activity. Both are behind the CAPABILITIES patch:
sessions that started on an older Fenix replay without them and end with the bare MAINTENANCE_COMPLETE.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.capabilities import (
        CapacityFigures,
        CapacityRequest,
        capabilities_notice,
        scale_out_notice,
    )
    from workflows.context import SessionContext
    from workflows.options import CLOUD_CALL
    from workflows.patches import CAPABILITIES


def capabilities_on() -> bool:
    """Whether this session reads hosts' facts and tells projects the figures (False: a history from before)."""
    return workflow.patched(CAPABILITIES)


async def complete_metadata(ctx: SessionContext) -> dict[str, dict[str, object]] | None:
    """Each project's MAINTENANCE_COMPLETE metadata beyond the admin's (docs/notifications.md); None: the bare
    notice of sessions older than CAPABILITIES."""
    if not capabilities_on():
        return None
    projects = ctx.project_ids()
    figures: CapacityFigures = await workflow.execute_activity_method(
        CloudActivities.capacity, CapacityRequest(projects=projects), **CLOUD_CALL)
    capabilities = capabilities_notice(ctx.detail.hosts)
    return {p: {"capabilities": capabilities, "scale_out": scale_out_notice(ctx.detail.project(p), figures)}
            for p in projects}
