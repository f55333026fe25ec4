"""Reading the hosts of running sessions for infrastructure services (`GET /v1/hosts`, `GET /v1/hosts/{host}`).

The host-lease registry (workflows/leases.py) says, at once and without visibility's lag, which sessions hold which
hosts; each of those sessions answers its `hosts` query (small: no instances, no history) with every host's state
and window. A lease can outlive its session until the registry's next grant: a session that no longer runs is asked
nothing (the query is rejected by Temporal without a worker) and skipped.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError

from api.errors import is_not_found
from api.registries import Registry
from fenix.constants import SA_HOSTS, SESSION_WORKFLOW_TYPE, session_id_from_workflow_id, session_workflow_id
from fenix.models.hosts import OUT_OF_SERVICE, HostState, HostStatus, HostWindow, SessionHosts
from fenix.models.lease import HeldQuery, Lease
from workflows.leases import HostLeasesWorkflow
from workflows.session import MaintenanceSessionWorkflow


async def _session_hosts(client: Client, lease: Lease) -> SessionHosts | None:
    handle = client.get_workflow_handle_for(MaintenanceSessionWorkflow.run, session_workflow_id(lease.session_id))
    try:
        found = await handle.query(MaintenanceSessionWorkflow.hosts, reject_condition=QueryRejectCondition.NOT_OPEN)
    except WorkflowQueryRejectedError:
        return None  # ended: its lease lapses at the next grant
    except RPCError as err:
        if is_not_found(err):
            return None  # leased, not started (or already deleted)
        raise
    if not found.hosts and lease.hosts:
        # Started, but it has not read the cloud yet: the hosts it asked for are planned.
        found.hosts = [HostWindow(host=h, state=HostState.PLANNED) for h in sorted(lease.hosts)]
    return found


def _row(session: SessionHosts, window: HostWindow) -> HostStatus:
    down = window.state in OUT_OF_SERVICE
    return HostStatus(host=window.host, state=window.state, in_maintenance=down,
                      sessions=[session.session_id] if down else [], session_id=session.session_id,
                      session_state=session.state, workflow=session.workflow, maintenance_at=session.maintenance_at,
                      maintained=window.maintained, disabled_at=window.disabled_at, expected_end=window.expected_end)


async def host_rows(client: Client, leases: Registry[HostLeasesWorkflow], host: str | None = None) -> list[HostStatus]:
    """Every host of the running sessions (only `host`, if given), sorted by name."""
    held = await leases.query(HostLeasesWorkflow.held, HeldQuery(host=host))
    found = await asyncio.gather(*(_session_hosts(client, lease) for lease in held.leases))
    rows: dict[str, HostStatus] = {}
    for session in (s for s in found if s is not None):
        for window in session.hosts:
            if host is not None and window.host != host:
                continue
            row, before = _row(session, window), rows.get(window.host)
            if before is not None:
                # Only one running session holds a host (the lease); a second is one whose cleanup still runs.
                row.sessions = sorted(set(row.sessions) | set(before.sessions))
                if before.in_maintenance and not row.in_maintenance:
                    row = before.model_copy(update={"sessions": row.sessions})
                row.in_maintenance = bool(row.sessions)
            rows[window.host] = row
    return [rows[name] for name in sorted(rows)]


async def out_of_service(client: Client, host: str) -> HostStatus:
    """What Temporal's visibility alone says of `host` (no worker needed, as Fenix 0.1 answered): whether a running
    session has it out of service. `host` must be a checked name: it goes inside the query's quotes."""
    query = (f"WorkflowType = '{SESSION_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND "
             f"{SA_HOSTS.name} = '{host}'")
    sessions = [session_id_from_workflow_id(execution.id) async for execution in client.list_workflows(query)]
    return HostStatus(host=host, state=HostState.DISABLED if sessions else HostState.IN_SERVICE,
                      in_maintenance=bool(sessions), sessions=sessions, session_id=sessions[0] if sessions else None)
