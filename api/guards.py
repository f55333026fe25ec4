"""One session per host: a new session may not take hosts that a running session holds.

The hosts are leased atomically and durably in the host-lease registry (workflows/leases.py) before the session
starts, so concurrent POSTs over one host start one session and the others get 409. Refusals (409 held, 503 past
the deadline) are Update failures, mapped to HTTP by api/errors.py.
"""

from __future__ import annotations

import logging

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from api.deadline import Deadline
from fenix.models.lease import LeaseRelease, LeaseRequest, LeasesState
from fenix.settings import Settings
from workflows.leases import HostLeasesWorkflow, host_leases_id

# The hosts a session asked for are in its memo (set at start), for the Web UI and tools.
MEMO_HOSTS = "hosts"
log = logging.getLogger("fenix.api")


async def _leases(client: Client, settings: Settings) -> WorkflowHandle[HostLeasesWorkflow, None]:
    """The lease registry, started on first use (an existing one is reused)."""
    wf_id = host_leases_id(settings.task_queue)
    await client.start_workflow(HostLeasesWorkflow.run, LeasesState(), id=wf_id, task_queue=settings.task_queue,
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return client.get_workflow_handle_for(HostLeasesWorkflow.run, wf_id)


async def take_hosts(client: Client, settings: Settings, session_id: str, hosts: list[str],
                     deadline: Deadline) -> None:
    """Lease `hosts` (empty: every compute host) for the session about to start; 409 if a running session holds
    any of them."""
    handle = await _leases(client, settings)
    await handle.execute_update(HostLeasesWorkflow.acquire,
                                LeaseRequest(session_id=session_id, hosts=hosts, not_after=deadline.not_after))


async def release_hosts(client: Client, settings: Settings, session_id: str) -> None:
    """Give a session's lease back at once (its start failed, or it is being deleted). Best effort: a lease of a
    session that does not run lapses by itself at the next grant."""
    try:
        handle = await _leases(client, settings)
        await handle.execute_update(HostLeasesWorkflow.release, LeaseRelease(session_id=session_id))
    except Exception:  # noqa: BLE001 (the caller's own outcome matters more; the lease lapses anyway)
        log.warning("could not release the host lease of session %s; it lapses at the next grant", session_id,
                    exc_info=True)
