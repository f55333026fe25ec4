"""Names shared by the worker, the API and the UI: workflow ids and search attributes."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

# Search attributes, registered on the server (dev server flags, compose admin-tools step).
SA_SESSION_ID = SearchAttributeKey.for_keyword("MaintenanceSessionId")
SA_STATE = SearchAttributeKey.for_keyword("MaintenanceState")
SA_HOSTS = SearchAttributeKey.for_keyword_list("MaintenanceHost")  # hosts the session has out of service now
SEARCH_ATTRIBUTES = (SA_SESSION_ID, SA_STATE, SA_HOSTS)


def session_workflow_id(session_id: str) -> str:
    return f"maint-{session_id}"


def host_workflow_id(session_id: str, host: str) -> str:
    return f"maint-{session_id}/host/{host}"
