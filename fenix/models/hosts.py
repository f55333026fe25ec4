"""What infrastructure services learn about hosts: each host's place in planned maintenance (`GET /v1/hosts`, the
`maintenance.host` events) and the session query that answers it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class HostState(StrEnum):
    """A host's maintenance state, the same word in `GET /v1/hosts` and in the `maintenance.host` event's `state`.

    `MAINTENANCE_COMPLETE` (back in service) and `IN_MAINTENANCE` are Fenix's own event states, kept so Fenix-era
    consumers still understand them. `RETIRED` is for the retire flow (issue 12): emptied and left disabled for good.
    """

    IN_SERVICE = "IN_SERVICE"  # no running session plans or has the host (API only, never an event)
    PLANNED = "PLANNED"  # in a running session, not touched yet
    DISABLED = "DISABLED"  # disabled for maintenance: no new instances, its own are being moved off
    IN_MAINTENANCE = "IN_MAINTENANCE"  # empty, the upgrade (plug-ins) runs
    MAINTENANCE_COMPLETE = "MAINTENANCE_COMPLETE"  # back in service (also after a failed or aborted session)
    CANCELLED = "CANCELLED"  # was planned; the session ended without touching it
    RETIRED = "RETIRED"


# Out of service because of the session (what `in_maintenance` of `GET /v1/hosts/{host}` has always meant).
OUT_OF_SERVICE = frozenset({HostState.DISABLED, HostState.IN_MAINTENANCE, HostState.RETIRED})


class HostWindow(BaseModel):
    """One host of a session, as the session knows it now."""

    host: str
    state: HostState
    maintained: bool = False
    disabled_at: datetime | None = None
    # When the session expects the host back, at the latest: disabled_at plus the session's plan for the host (its
    # reply window, lead times, moves and plug-ins; workflows/host_plan.py). None until the host is disabled.
    expected_end: datetime | None = None


class SessionHosts(BaseModel):
    """Answer of the session's `hosts` query: its window and every host's state."""

    session_id: str
    workflow: str
    state: str
    maintenance_at: datetime
    hosts: list[HostWindow] = Field(default_factory=list)


class HostStatus(BaseModel):
    """`GET /v1/hosts/{host}` and one row of `GET /v1/hosts`."""

    host: str
    state: HostState = HostState.IN_SERVICE
    in_maintenance: bool = False  # out of service because of a running session (Fenix 0.1's only field)
    sessions: list[str] = Field(default_factory=list)  # the sessions that have it out of service now (0.1)
    session_id: str | None = None  # the running session that plans or has the host
    session_state: str | None = None
    workflow: str | None = None
    maintenance_at: datetime | None = None  # the session's window opens (no host is touched before)
    maintained: bool = False
    disabled_at: datetime | None = None
    expected_end: datetime | None = None


class HostList(BaseModel):
    """`GET /v1/hosts`: a page, sorted by host name; `next_marker` is the `marker` of the next page (None: last)."""

    hosts: list[HostStatus] = Field(default_factory=list)
    next_marker: str | None = None
