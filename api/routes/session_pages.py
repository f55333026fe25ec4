"""A session's detail, page by page (`/v1/maintenance/{session_id}/detail/{hosts,instances,history}`).

Three path segments under the session, so no page is ever mistaken for `/v1/maintenance/{session_id}/{project_id}`
(a project called `hosts` stays a project). Each answer is bounded by `limit` (at most PAGE_MAX) and carries the
cursor of the next page; docs/api.md#paged-detail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deadline import BoundedRoute
from api.deps import AdminDep, ClientDep, PrincipalDep
from api.routes.hosts import HOST_NAME
from api.session_reads import read_history, read_hosts, read_instances
from fenix.models.limits import MAX_HOST_NAME
from fenix.models.session import HostPhase
from fenix.models.session_pages import (
    PAGE_DEFAULT,
    PAGE_MAX,
    HistoryPage,
    HistoryPageQuery,
    HostPage,
    HostPageQuery,
    InstancePage,
    InstancePageQuery,
    InstanceState,
)

router = APIRouter(prefix="/maintenance", tags=["maintenance"], route_class=BoundedRoute)

Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description=f"entries per page, at most {PAGE_MAX}")]
KeyCursor = Annotated[str | None, Query(min_length=1, max_length=MAX_HOST_NAME,
                                        description="`next` of the previous page")]


@router.get("/{session_id}/detail/hosts", response_model=HostPage)
async def session_hosts(session_id: str, _: AdminDep, client: ClientDep, phase: HostPhase | None = None,
                        cursor: KeyCursor = None, limit: Limit = PAGE_DEFAULT) -> HostPage:
    """The session's hosts by name, filtered by phase."""
    return await read_hosts(client, session_id, HostPageQuery(phase=phase, cursor=cursor, limit=limit))


@router.get("/{session_id}/detail/instances", response_model=InstancePage)
async def session_instances(session_id: str, who: PrincipalDep, client: ClientDep,
                            project_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
                            host: Annotated[str | None, Query(max_length=MAX_HOST_NAME, json_schema_extra={
                                "pattern": HOST_NAME.pattern})] = None,
                            state: InstanceState | None = None, cursor: KeyCursor = None,
                            limit: Limit = PAGE_DEFAULT) -> InstancePage:
    """The session's instances by id, filtered by project, current host and state. A project sees only its own."""
    scope = who.scope
    if scope is not None and project_id not in (None, scope):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a project can only see and answer for itself")
    if host is not None and not HOST_NAME.match(host):
        raise HTTPException(422, "invalid host name")
    return await read_instances(client, session_id, InstancePageQuery(
        project_id=scope or project_id, host=host, state=state, cursor=cursor, limit=limit))


@router.get("/{session_id}/detail/history", response_model=HistoryPage)
async def session_history(session_id: str, _: AdminDep, client: ClientDep,
                          cursor: Annotated[int, Query(ge=0, description="`next` of the previous page")] = 0,
                          limit: Limit = PAGE_DEFAULT) -> HistoryPage:
    """The session's history from entry number `cursor` on; `dropped` counts wanted entries no longer kept."""
    return await read_history(client, session_id, HistoryPageQuery(cursor=cursor, limit=limit))
