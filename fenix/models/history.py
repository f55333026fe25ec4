"""A session's history as `GET /v1/maintenance/{id}/history` shows it: all of it to the admin, a project's own part
to the project."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fenix.models.session import HistoryEntry, SessionState


class SessionHistory(BaseModel):
    session_id: str
    state: SessionState
    project_id: str | None = None  # the project whose part this is; None: the whole history (admin)
    entries: list[HistoryEntry] = Field(default_factory=list)
