"""Infrastructure services: is a host down because of planned maintenance? (`/v1/hosts/{host}`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deadline import BoundedRoute
from api.deps import ClientDep, ServiceDep
from api.schemas import HostMaintenanceStatus

router = APIRouter(prefix="/hosts", tags=["hosts"], route_class=BoundedRoute)

HOST_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")


@router.get("/{host}", response_model=HostMaintenanceStatus)
async def host_status(host: Annotated[str, Path(json_schema_extra={"pattern": HOST_NAME.pattern})], _: ServiceDep,
                      client: ClientDep) -> HostMaintenanceStatus:
    """True while a running session has the host out of service (disabled by it, not yet re-enabled)."""
    if not HOST_NAME.match(host):
        raise HTTPException(422, "invalid host name")
    query = f"WorkflowType = 'MaintenanceSession' AND ExecutionStatus = 'Running' AND MaintenanceHost = '{host}'"
    sessions = [wf.id.removeprefix("maint-") async for wf in client.list_workflows(query)]
    return HostMaintenanceStatus(host=host, in_maintenance=bool(sessions), sessions=sessions)
