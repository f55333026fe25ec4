"""Action plug-in runs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fenix.models.session import ActionSpec, ActionType


class PluginContext(BaseModel):
    """What a plug-in is told about its run."""

    session_id: str
    plugin: str
    type: ActionType
    host: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    session_metadata: dict[str, Any] = Field(default_factory=dict)


class PluginOutcome(BaseModel):
    state: str = "DONE"  # DONE or FAILED
    output: str = ""


class PluginRunRequest(BaseModel):
    session_id: str
    host: str | None
    spec: ActionSpec
    session_metadata: dict[str, Any] = Field(default_factory=dict)


class PluginRunResult(BaseModel):
    plugin: str
    type: ActionType
    host: str | None
    state: str
    output: str
    duration_s: float
