"""Names shared by the worker, the API and the UI: workflow ids and search attributes."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

# Search attributes, registered on the server (dev server flags, compose admin-tools step).
SA_SESSION_ID = SearchAttributeKey.for_keyword("MaintenanceSessionId")
SA_STATE = SearchAttributeKey.for_keyword("MaintenanceState")
SA_HOSTS = SearchAttributeKey.for_keyword_list("MaintenanceHost")  # hosts the session has out of service now
SEARCH_ATTRIBUTES = (SA_SESSION_ID, SA_STATE, SA_HOSTS)


SESSION_WORKFLOW_TYPE = "MaintenanceSession"
_SESSION_PREFIX = "maint-"
_HOST_INFIX = "/host/"  # a host child workflow: maint-<session>/host/<host>
_PLAN_PREFIX = "plan-"  # a plan preview (POST /v1/maintenance/plan): plan-<uuid>


def session_workflow_id(session_id: str) -> str:
    return f"{_SESSION_PREFIX}{session_id}"


def session_id_from_workflow_id(workflow_id: str) -> str:
    return workflow_id.removeprefix(_SESSION_PREFIX)


def plan_workflow_id(preview_id: str) -> str:
    return f"{_PLAN_PREFIX}{preview_id}"


def disable_reason(session_id: str) -> str:
    """The reason a session writes on the compute services it disables (shown by `openstack compute service list`)."""
    return f"fenix maintenance session {session_id}"


def retired_reason(session_id: str) -> str:
    """The reason on a host a `retire` session emptied: no cleanup enables it, as it no longer carries
    `disable_reason` (every re-enable checks for exactly that)."""
    return f"{disable_reason(session_id)}: retired"


def host_workflow_id(session_id: str, host: str) -> str:
    return f"{_SESSION_PREFIX}{session_id}{_HOST_INFIX}{host}"


def session_and_host(workflow_id: str) -> tuple[str | None, str | None]:
    """The session (and host) a session's or a host's workflow id names; (None, None) for other workflows.
    Logs use it to tag every line of a session with its id."""
    if not workflow_id.startswith(_SESSION_PREFIX):
        return None, None
    session_id, _, host = workflow_id.removeprefix(_SESSION_PREFIX).partition(_HOST_INFIX)
    return session_id, host or None
