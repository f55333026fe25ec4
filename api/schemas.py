"""HTTP request and response bodies (Fenix v1 compatible, with documented extensions), in one place.

Only what is the API's own lives here: request bodies (with the API's validation: bounds, strict types, unknown
keys refused), answers that only the API gives, and the error bodies. A body that is also a workflow's message or
query answer is that model itself (fenix/models: `SessionStatus`, `SessionDetail`, `PlanPreview`, `SubscriptionList`,
`InstanceConstraintsList`, ...), and a request that becomes a workflow's input subclasses it (`PlanRequest`), so a
field is declared once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from fenix import plugins
from fenix.models.constraints import GroupFields, InstanceFields
from fenix.models.limits import (
    MAX_ACTIONS,
    MAX_HOST_NAME,
    MAX_HOSTS,
    MAX_URL_LENGTH,
    ApiId,
    FreeMetadata,
    check_free_json,
)
from fenix.models.notification import EVENT_PROJECT, EVENT_TYPES, FENIX_TIME_FORMAT, Subscription, SubscriptionCreate
from fenix.models.plan import PlanInput
from fenix.models.session import ActionSpec, InstanceAction, MoveRetry, ReplyWindows, SessionState
from fenix.models.steering import OnFailure, PauseAfter
from workflows.catalog import SESSION_WORKFLOWS

MAX_REPLY_WINDOW_S = 30 * 24 * 3600
MAX_TTL_S = 366 * 86400  # a year: a VNFM that wants longer renews, or omits the ttl
# Non-empty (not only spaces) in the schema too, so clients and fuzzers see the rule; `_hosts` says why at runtime.
HostName = Annotated[str, Field(max_length=MAX_HOST_NAME, json_schema_extra={"minLength": 1, "pattern": r"\S"})]


def parse_time(value: object) -> datetime:
    """Fenix's 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601; a time without zone is UTC."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            at = datetime.strptime(text, FENIX_TIME_FORMAT)
        except ValueError:
            try:
                at = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is neither 'YYYY-MM-DD HH:MM:SS' (UTC) nor ISO 8601") from None
    else:
        raise ValueError("must be a time string")
    try:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is after the last representable instant
        raise ValueError(f"{value!r} is out of range in UTC") from None


class SessionCreate(BaseModel):
    """`POST /v1/maintenance`. Unknown keys are rejected so a typo never silently changes a session."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[HostName] = Field(default_factory=list, max_length=MAX_HOSTS,
                                  description="hosts to maintain; empty: every compute host")
    state: str | None = Field(None, description="Fenix clients send MAINTENANCE; any other value is refused",
                              json_schema_extra={"enum": [SessionState.MAINTENANCE.value, None]})
    maintenance_at: datetime = Field(description="UTC 'YYYY-MM-DD HH:MM:SS' or ISO 8601; in the past = now")
    # Bounded in depth and size: the worker must be able to decode the session's own input (docs/security.md).
    metadata: FreeMetadata = Field(default_factory=dict, description="told to projects, e.g. new capabilities")
    workflow: str = "default"
    download: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=100, description="accepted for Fenix compatibility; unused")
    actions: list[ActionSpec] = Field(default_factory=list, max_length=MAX_ACTIONS,
                                      description="action plug-ins in the order to run")
    reply_windows: ReplyWindows = Field(default_factory=ReplyWindows, description="seconds to reply, per notice")
    default_action: InstanceAction = Field(InstanceAction.LIVE_MIGRATE,
                                           description="action for instances whose project did not choose",
                                           json_schema_extra={"enum": ["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"]})
    max_scale_in_rounds: int = Field(3, ge=0, le=20)
    move_retry: MoveRetry = Field(default_factory=MoveRetry,
                                  description="how long a refused or failed move is tried again")
    max_parallel_hosts: int = Field(4, ge=1, le=1000, description="vnf: most hosts emptied and maintained at once")
    warn_ahead: bool = Field(True, description="vnf: warn instances of the hosts likely to start next, so their "
                                               "lead time runs while the current hosts are emptied")
    pause_after: PauseAfter = Field("never", description="pause by itself: after every maintained host (`batch`), "
                                                         "once after the first N hosts (a canary), or `never`")
    on_failure: OnFailure = Field("fail", description="a failed host fails the session (`fail`), or parks it "
                                                      "paused for retry / skip / abort (`pause`)")
    retire: bool = Field(False, description="retire the hosts: empty them as for maintenance, then leave them "
                                            "disabled for good (no plug-ins, never enabled again)")

    @field_validator("maintenance_at", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime:
        return parse_time(v)

    @field_validator("default_action")
    @classmethod
    def _default_action(cls, v: InstanceAction) -> InstanceAction:
        if v == InstanceAction.EVICTION:
            raise ValueError("EVICTION is not an action of the default workflow; use MIGRATE, LIVE_MIGRATE "
                             "or OWN_ACTION")
        return v

    @field_validator("reply_windows")
    @classmethod
    def _windows(cls, v: ReplyWindows) -> ReplyWindows:
        # Infinity would reach the workflow as null (it could not decode its input and would hang), and
        # deadlines past year 9999 overflow inside the workflow: either way a session stuck for good.
        for name, seconds in v.model_dump().items():
            if not math.isfinite(seconds) or seconds > MAX_REPLY_WINDOW_S:
                raise ValueError(f"{name}: at most {MAX_REPLY_WINDOW_S} seconds (30 days), not {seconds!r}")
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        if any(not h.strip() for h in v):
            raise ValueError("host names must not be empty")
        dup = sorted({h for h in v if v.count(h) > 1})
        if dup:
            raise ValueError(f"duplicate host(s): {', '.join(dup)}")
        return v

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v not in (None, SessionState.MAINTENANCE.value):
            raise ValueError("a session always starts in MAINTENANCE")
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: str) -> str:
        if v not in SESSION_WORKFLOWS:
            raise ValueError(f"unknown workflow {v!r}; available: {', '.join(sorted(SESSION_WORKFLOWS))}")
        return v

    @model_validator(mode="after")
    def _actions(self) -> SessionCreate:
        known = plugins.available()
        for i, spec in enumerate(self.actions):
            check_free_json(spec.metadata, f"actions[{i}].metadata")
            if spec.plugin not in known:
                raise ValueError(f"actions[{i}]: unknown plug-in {spec.plugin!r}; available: {', '.join(known)}")
            try:
                plugins.validate_metadata(spec.plugin, spec.metadata)
            except ValueError as err:
                raise ValueError(f"actions[{i}] ({spec.plugin}): {err}") from None
        return self


class SessionCreated(BaseModel):
    session_id: str


class SessionList(BaseModel):
    sessions: list[str]


class ProjectInstancesOut(BaseModel):
    instance_ids: list[str]


# --- the plan preview ---


# The preview workflow's input, with the API's stricter checks on the fields it redeclares: host names bounded, and
# strict types, so that `false` is not 0 seconds and `true` not 1 host (a client bug must not become a plan).
class PlanRequest(PlanInput):
    """The session you would start (its `vnf` options); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[HostName] = Field(default_factory=list, max_length=MAX_HOSTS,
                                  description="hosts to maintain; empty: every compute host")
    max_parallel_hosts: Annotated[StrictInt, Field(ge=1, le=1000)] = 4
    warn_ahead: StrictBool = True
    host_maintenance_s: Annotated[StrictFloat, Field(ge=0, le=86400)] | None = Field(
        None, description="how long the plug-ins take on one host (a guess)")


# --- webhook subscriptions ---

EventType = Literal["maintenance.scheduled", "maintenance.host"]


def _project_events() -> list[EventType]:
    return [EVENT_PROJECT]  # type: ignore[list-item]


class SubscriptionIn(SubscriptionCreate):
    project_id: ApiId | None = None  # admin only: subscribe on behalf of a project
    ttl: int | None = Field(None, ge=1, le=MAX_TTL_S,
                            description="seconds until the subscription expires (then it gets no notice and is "
                                        "dropped); posting the same subscription again renews it. None: until "
                                        "deleted")
    event_types: list[EventType] = Field(default_factory=_project_events, min_length=1,  # type: ignore[assignment]
                                         description="at least one; maintenance.host needs the admin or service role")

    @field_validator("url", mode="before")
    @classmethod
    def _url_length(cls, v: object) -> object:
        # Stored in the registry and copied into every delivery: bounded before it is parsed (docs/security.md).
        if isinstance(v, str) and len(v) > MAX_URL_LENGTH:
            raise ValueError(f"at most {MAX_URL_LENGTH} characters, not {len(v)}")
        return v

    @field_validator("url")
    @classmethod
    def _stored_length(cls, v: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(v)) > MAX_URL_LENGTH:  # once normalized (percent-encoding, punycode) it can grow
            raise ValueError(f"at most {MAX_URL_LENGTH} characters once normalized, not {len(str(v))}")
        return v

    @field_validator("event_types")
    @classmethod
    def _events(cls, v: list[EventType]) -> list[EventType]:
        bad = [e for e in v if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; known: {list(EVENT_TYPES)}")
        return sorted(set(v))


class SubscriptionCreated(Subscription):
    secret: str | None = Field(None, description="the signing secret (`whsec_...`) of a new subscription: shown in "
                                                 "this answer only (rotate it to get a new one)")


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret (`whsec_...`), shown only in this answer")
    previous_valid_until: datetime | None = Field(
        description="until then deliveries are signed with the previous secret too (FENIX_WEBHOOK_SECRET_GRACE_S)")


# --- instance and instance-group constraints ---


class InstanceIn(InstanceFields):
    """PUT body: every field optional; the id defaults to the URL's, the project to the caller's."""

    model_config = ConfigDict(extra="ignore")  # clients (Tacker, Doctor) may send more than we keep

    instance_id: ApiId | None = None
    project_id: ApiId | None = None
    group_id: ApiId | None = None


class GroupIn(GroupFields):
    model_config = ConfigDict(extra="ignore")

    group_id: ApiId | None = None
    project_id: ApiId | None = None


# --- errors (api/errors.py maps every failure to one of these) ---


class ErrorBody(BaseModel):
    """Every error answer: `error` for Fenix clients, `detail` (the same text) for FastAPI clients."""

    error: str = Field(description="why, for people and Fenix clients")
    detail: str = Field(description="the same text")


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A 422: `error` joins every problem; `detail` lists them (or repeats `error` for a refusal by a workflow)."""

    error: str
    detail: list[ValidationProblem] | str
