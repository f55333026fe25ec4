"""Infrastructure services: is a host down because of planned maintenance? (`/v1/hosts/{host}`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deadline import BoundedRoute
from api.deps import ClientDep, ServiceDep
from api.schemas import HostMaintenanceStatus
from fenix.constants import SA_HOSTS, SESSION_WORKFLOW_TYPE, session_id_from_workflow_id

router = APIRouter(prefix="/hosts", tags=["hosts"], route_class=BoundedRoute)

HOST_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")


@router.get("/{host}", response_model=HostMaintenanceStatus)
async def host_status(host: Annotated[str, Path(json_schema_extra={"pattern": HOST_NAME.pattern})], _: ServiceDep,
                      client: ClientDep) -> HostMaintenanceStatus:
    """True while a running session has the host out of service (disabled by it, not yet re-enabled)."""
    if not HOST_NAME.match(host):  # also what keeps the name from breaking out of the quotes below
        raise HTTPException(422, "invalid host name")
    query = (f"WorkflowType = '{SESSION_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND "
             f"{SA_HOSTS.name} = '{host}'")
    sessions = [session_id_from_workflow_id(execution.id) async for execution in client.list_workflows(query)]
    return HostMaintenanceStatus(host=host, in_maintenance=bool(sessions), sessions=sessions)
