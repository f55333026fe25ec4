"""The audit trail of admin and project actions: who did what (docs/operations.md#audit).

Every action is one line of the `fenix.audit` logger (JSON logs carry `audit_action`, `actor`, `actor_project_id`
and what the action names as fields). An action on a session is also recorded in the session itself (signal
`record_action`, workflows/audit.py), so it stays in the session's record for as long as Temporal keeps the
session. A route that adds an action calls `audit(...)`, and `record_on_session(...)` for a session's own record,
before it acts: the record then comes before what the action causes.
"""

from __future__ import annotations

import logging

from temporalio.service import RPCError

from api.auth import Principal
from api.errors import is_not_found
from api.session_reads import SessionHandle
from fenix.constants import session_id_from_workflow_id
from fenix.models.audit import ActionRecord, Actor
from workflows.session import MaintenanceSessionWorkflow

log = logging.getLogger("fenix.audit")


def actor_of(who: Principal) -> Actor:
    return Actor(name=who.name, project_id=who.project_id, roles=list(who.roles))


def audit(who: Principal, action: str, *, detail: str = "", **about: str | None) -> None:
    """One line of the audit log. `about`: what the action is on (session_id, project_id, instance_id, ...)."""
    fields = {"audit_action": action, "actor": who.name, "actor_project_id": who.project_id,
              **{k: v for k, v in about.items() if v is not None}}
    named = " ".join(f"{k}={v}" for k, v in about.items() if v is not None)
    log.info("%s by %s (project %s)%s%s", action, who.name, who.project_id, f" {named}" if named else "",
             f": {detail}" if detail else "", extra=fields)


async def record_on_session(handle: SessionHandle, who: Principal, action: str, detail: str = "") -> None:
    """The action in the session's own record (and the audit log)."""
    session_id = session_id_from_workflow_id(handle.id)
    audit(who, action, detail=detail, session_id=session_id)
    try:
        await handle.signal(MaintenanceSessionWorkflow.record_action,
                            ActionRecord(actor=actor_of(who), action=action, detail=detail))
    except RPCError as err:
        if not is_not_found(err):
            raise
        # Ended since the caller looked: nothing more to record in it; the action itself says what that means.
        log.warning("session %s ended before %s could be recorded in it", session_id, action,
                    extra={"session_id": session_id})
