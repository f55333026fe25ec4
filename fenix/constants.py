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


def session_workflow_id(session_id: str) -> str:
    return f"{_SESSION_PREFIX}{session_id}"


def session_id_from_workflow_id(workflow_id: str) -> str:
    return workflow_id.removeprefix(_SESSION_PREFIX)


def disable_reason(session_id: str) -> str:
    """The reason a session writes on the compute services it disables (shown by `openstack compute service list`)."""
    return f"fenix maintenance session {session_id}"


def host_workflow_id(session_id: str, host: str) -> str:
    return f"maint-{session_id}/host/{host}"
