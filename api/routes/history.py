"""A session's history (`/v1/maintenance/{session}/history`): the whole of it for the admin, its own part for a
project: the notices it got, the replies it gave (and who gave them), the defaults applied for it and the actions on
its instances, with times, and the session's state changes.

Routed before the project routes (`/maintenance/{session}/{project}`): a project named `history` would not be
reachable there, as a project named `detail` never was.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deadline import BoundedRoute
from api.deps import ClientDep, PrincipalDep, list_scope
from api.errors import SessionNotFound
from api.session_reads import read_detail
from fenix.models.history import SessionHistory
from fenix.models.session import HistoryEntry

router = APIRouter(prefix="/maintenance", tags=["maintenance"], route_class=BoundedRoute)

# Entries about no project that every project of the session may see: the session's own state changes.
SHARED_KINDS = frozenset({"state"})


def _of_project(entry: HistoryEntry, project_id: str) -> bool:
    return entry.project_id == project_id or (entry.project_id is None and entry.kind in SHARED_KINDS)


@router.get("/{session_id}/history", response_model=SessionHistory)
async def session_history(session_id: str, who: PrincipalDep, client: ClientDep,
                          project_id: Annotated[str | None, Query(max_length=255)] = None) -> SessionHistory:
    """The session's history, oldest first; a project token sees only its project's part (and `?project_id=` may
    name only its own). While the session runs and after it has ended, as long as Temporal keeps it."""
    scope = list_scope(who, project_id, "part of a session's history")
    detail = await read_detail(client, session_id)
    if scope is None:
        return SessionHistory(session_id=session_id, state=detail.state, entries=detail.history)
    if all(p.project_id != scope for p in detail.projects):
        # The same answer as for a session that does not exist: a project learns nothing of others' sessions.
        raise SessionNotFound(session_id)
    return SessionHistory(session_id=session_id, state=detail.state, project_id=scope,
                          entries=[e for e in detail.history if _of_project(e, scope)])
