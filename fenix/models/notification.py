"""Notification payloads (Fenix field names) and webhook subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

EVENT_PROJECT = "maintenance.scheduled"
EVENT_HOST = "maintenance.host"
EVENT_TYPES = (EVENT_PROJECT, EVENT_HOST)

# Extra project notice states beyond the session states.
INSTANCE_ACTION_DONE = "INSTANCE_ACTION_DONE"
INSTANCE_ACTION_FAILED = "INSTANCE_ACTION_FAILED"

FENIX_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The project notice states Fenix sent in its time (and so Fenix-era AODH-format clients, Doctor's VNFM above all,
# parse). Newer states go to native subscribers only. Host events are not filtered by it: their subscribers are
# infrastructure services, which get every host state in both formats.
AODH_STATES = frozenset({"MAINTENANCE", "SCALE_IN", "PREPARE_MAINTENANCE", "PLANNED_MAINTENANCE",
                         "INSTANCE_ACTION_DONE", "MAINTENANCE_COMPLETE", "IN_MAINTENANCE", None})


def fenix_time(at: datetime | None) -> str | None:
    """Fenix's wire format for `actions_at` / `reply_at`: UTC 'YYYY-MM-DD HH:MM:SS'."""
    return at.strftime(FENIX_TIME_FORMAT) if at else None


def parse_fenix_time(text: str) -> datetime:
    return datetime.strptime(text, FENIX_TIME_FORMAT).replace(tzinfo=UTC)


class ProjectNotice(BaseModel):
    """`maintenance.scheduled` payload, as Fenix emitted it (plus `service`, which its docs promised)."""

    project_id: str
    session_id: str
    state: str
    instance_ids: str | list[str]
    allowed_actions: list[str] = Field(default_factory=list)
    actions_at: str | None = None
    reply_at: str | None = None
    reply_url: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    service: str = "fenix"


def project_url(api_url: str, session_id: str, project_id: str) -> str:
    """Where a project reads its instance list and sends its reply (`instance_ids` / `reply_url` of a notice)."""
    return f"{api_url}/maintenance/{session_id}/{project_id}"


def instance_notice(api_url: str, session_id: str, project_id: str, instance_id: str, state: str,
                    metadata: dict[str, Any]) -> ProjectNotice:
    """INSTANCE_ACTION_DONE / INSTANCE_ACTION_FAILED about one instance."""
    return ProjectNotice(project_id=project_id, session_id=session_id, state=state, instance_ids=[instance_id],
                         reply_url=project_url(api_url, session_id, project_id), metadata=metadata)


class HostNotice(BaseModel):
    """`maintenance.host` payload. `project_id` is the admin project *id* (Fenix sent a name).

    An event about one host names it in `host` (and `hosts` is `[host]`). PLANNED and CANCELLED are about many hosts
    at once, the session's: they name them in `hosts` (`host` is empty), so announcing a session over 2,000 hosts is
    a few events in its history, not 2,000 (each costs about 12 history events: docs/benchmarks.md).
    """

    project_id: str
    host: str
    state: str  # fenix.models.hosts.HostState: PLANNED, DISABLED, IN_MAINTENANCE, MAINTENANCE_COMPLETE, CANCELLED
    session_id: str
    service: str = "fenix"
    hosts: list[str] = Field(default_factory=list)
    maintenance_at: str | None = None  # the session's window opens (Fenix's time format, UTC)
    expected_end: str | None = None  # DISABLED: when the session expects the host back at the latest

    @model_validator(mode="after")
    def _one_host(self) -> HostNotice:
        if not self.hosts and self.host:
            self.hosts = [self.host]
        return self


class BodyFormat(StrEnum):
    NATIVE = "native"  # {"event_type", "message_id", "generated", "publisher_id", "priority", "payload": {...}}
    AODH = "aodh"  # AODH event-alarm webhook body with string traits (Doctor's VNFM parses this)


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # e.g. "event_type" for "event_types" is an error, not a default

    url: AnyHttpUrl
    event_types: list[str] = Field(default_factory=lambda: [EVENT_PROJECT], min_length=1)
    format: BodyFormat = BodyFormat.NATIVE


class Subscription(BaseModel):
    id: str
    project_id: str
    url: str
    event_types: list[str]
    format: BodyFormat
    created_at: datetime
    # Set from the subscription's `ttl`: from then on it gets no notice and is dropped at the registry's next write.
    # None: until it is deleted. Posting the same subscription again sets it anew (a VNFM renews it that way).
    expires_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


class NoticeEnvelope(BaseModel):
    """One event to deliver: to a project's subscriptions, or (project_id None) to host-event subscribers."""

    event_type: str
    message_id: str
    generated: datetime
    project_id: str | None
    payload: dict[str, Any]
    # Times in the payload that run from the moment the notice reaches the project: {field: seconds}. At delivery
    # the field becomes at least the delivery time plus those seconds, so a notice held back (a worker died
    # mid-POST, the endpoint was down) still gives its full reply window or lead time, and says so.
    from_delivery: dict[str, float] = Field(default_factory=dict)

    def stamped(self, delivered: datetime) -> dict[str, Any]:
        """The payload as delivered at `delivered` (see `from_delivery`)."""
        payload = dict(self.payload)
        for key, seconds in self.from_delivery.items():
            due = delivered + timedelta(seconds=seconds)
            given = payload.get(key)
            if isinstance(given, str):
                due = max(due, parse_fenix_time(given))
            if due.microsecond:  # rounded up to the wire format's second: never a moment less than promised
                due = due.replace(microsecond=0) + timedelta(seconds=1)
            payload[key] = fenix_time(due)
        return payload


class Delivery(BaseModel):
    """Activity input: one envelope to one subscription."""

    subscription: Subscription
    envelope: NoticeEnvelope


class DeliveryResult(BaseModel):
    status_code: int
    elapsed_s: float
    delivered_at: datetime | None = None  # when the POST that succeeded began (Temporal's clock)
