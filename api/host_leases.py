"""One session per host: a new session may not take hosts that a running session holds.

The hosts are leased atomically and durably in the host-lease registry (workflows/leases.py) before the session
starts, so concurrent POSTs over one host start one session and the others get 409. Refusals (409 held, 503 past
the deadline) are Update failures, mapped to HTTP by api/errors.py.
"""

from __future__ import annotations

import logging

from api.deadline import Deadline
from api.registries import Registry
from fenix.models.lease import LeaseRelease, LeaseRequest
from workflows.leases import HostLeasesWorkflow

# The hosts a session asked for are in its memo (set at start), for the Web UI and tools.
MEMO_HOSTS = "hosts"
log = logging.getLogger("fenix.api")


async def take_hosts(leases: Registry[HostLeasesWorkflow], session_id: str, hosts: list[str],
                     deadline: Deadline) -> None:
    """Lease `hosts` (empty: every compute host) for the session about to start; 409 if a running session holds
    any of them."""
    await leases.update(HostLeasesWorkflow.acquire,
                        LeaseRequest(session_id=session_id, hosts=hosts, not_after=deadline.not_after))


async def release_hosts(leases: Registry[HostLeasesWorkflow], session_id: str) -> None:
    """Give a session's lease back at once (its start failed, or it is being deleted). Best effort: a lease of a
    session that does not run lapses by itself at the next grant."""
    try:
        await leases.update(HostLeasesWorkflow.release, LeaseRelease(session_id=session_id))
    except Exception:  # noqa: BLE001 (the caller's own outcome matters more; the lease lapses anyway)
        log.warning("could not release the host lease of session %s; it lapses at the next grant", session_id,
                    exc_info=True)
