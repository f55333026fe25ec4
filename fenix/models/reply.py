"""A project's answer to a notice, as the Fenix v1 API and the workflow message accept it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fenix.models.audit import Actor
from fenix.models.deadline import Deadlined
from fenix.models.session import InstanceAction


class ProjectReply(Deadlined):
    """`PUT /v1/maintenance/{session}/{project}` body and the Update/Signal argument.

    Both Fenix forms of per-instance actions are accepted: `instance_actions` {id: action} (default
    workflow) and `instance_action` for the single instance of a per-instance notice (`vnf` workflow).
    Extra keys that clients send (`session_id`, `instance_ids`) are allowed and ignored. `not_after` (from
    Deadlined) is the API's deadline: the session refuses the reply after it (a Temporal-direct signal may omit it).
    """

    model_config = ConfigDict(extra="ignore")

    project_id: str = ""  # filled by the API from the URL; required for Temporal-direct callers
    state: str
    instance_actions: dict[str, InstanceAction] = Field(default_factory=dict)
    instance_action: InstanceAction | None = None
    instance_ids: list[str] | str | None = None
    session_id: str | None = None
    # Who sent it, for the audit record: always set by the API from the caller's token (a body's own is replaced).
    actor: Actor | None = None

    @property
    def ack(self) -> bool:
        return self.state.startswith("ACK_")

    @property
    def replied_state(self) -> str:
        return self.state.split("_", 1)[1] if "_" in self.state else ""


class ReplyResult(BaseModel):
    accepted: bool
    state: str
    detail: str = ""
