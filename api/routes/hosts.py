"""Infrastructure services: which hosts planned maintenance has, or will have, out of service (`/v1/hosts`).

Read by the admin and the `service` role (a monitoring or alarm system's token): host names and windows are not a
project's business.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from temporalio.service import RPCError

from api.deadline import BoundedRoute
from api.deps import ClientDep, HostLeasesDep, ServiceDep, SettingsDep
from api.host_view import host_rows, out_of_service
from fenix.models.hosts import HostList, HostState, HostStatus

log = logging.getLogger("fenix.api")

router = APIRouter(prefix="/hosts", tags=["hosts"], route_class=BoundedRoute)

HOST_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
MAX_PAGE = 1000


def _check_host(name: str, what: str) -> None:
    if not HOST_NAME.match(name):
        raise HTTPException(422, f"invalid {what}")


@router.get("", response_model=HostList)
async def list_hosts(_: ServiceDep, client: ClientDep, leases: HostLeasesDep,
                     state: Annotated[HostState | None, Query(description="only hosts in this state")] = None,
                     session_id: Annotated[str | None, Query(max_length=64, description="only this session's")] = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
                     marker: Annotated[str | None, Query(description="the `next_marker` of the page before")] = None,
                     ) -> HostList:
    """The hosts of the running sessions, by name: planned, disabled, in maintenance or back in service, with the
    session, its window and when each disabled host is expected back."""
    if marker is not None:
        _check_host(marker, "marker")
    rows = [r for r in await host_rows(client, leases)
            if (state is None or r.state == state) and (session_id is None or r.session_id == session_id)
            and (marker is None or r.host > marker)]
    page = rows[:limit]
    return HostList(hosts=page, next_marker=page[-1].host if len(rows) > limit else None)


@router.get("/{host}", response_model=HostStatus)
async def host_status(host: Annotated[str, Path(json_schema_extra={"pattern": HOST_NAME.pattern})], _: ServiceDep,
                      client: ClientDep, leases: HostLeasesDep, settings: SettingsDep) -> HostStatus:
    """The host's planned maintenance: `IN_SERVICE` when no running session plans or has it. `in_maintenance` is
    true while a running session has it out of service (disabled by it, not yet re-enabled)."""
    _check_host(host, "host name")
    try:
        # Half the read deadline: what is left answers from visibility.
        rows = await asyncio.wait_for(host_rows(client, leases, host), settings.api_read_timeout_s / 2)
    except (TimeoutError, RPCError) as err:
        # No worker answers the registry's and the sessions' queries (Fenix's workers down or overloaded): a
        # monitoring system asking "is this host down for planned maintenance?" still gets the answer Fenix 0.1 gave,
        # from Temporal's visibility alone, without the window and the state's detail.
        log.warning("host %s: no worker answered (%s); answered from visibility", host, type(err).__name__)
        return await out_of_service(client, host)
    return rows[0] if rows else HostStatus(host=host)
