"""Who did what to a session: the audit record of admin and project actions (docs/operations.md#audit)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Actor(BaseModel):
    """The caller of an API action: its token's name (tokens mode) or Keystone user, and its project."""

    name: str
    project_id: str
    roles: list[str] = Field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.name} (project {self.project_id})"


class ActionRecord(BaseModel):
    """Signal `record_action` of a session: an action on it, recorded in its history with who did it.

    `action`: start, abort, pause, resume, reschedule, ... (a reply carries its actor on the reply itself).
    """

    actor: Actor
    action: str
    detail: str = ""
