"""Infrastructure services' view of a session's hosts: the `maintenance.host` events of each host's transitions, and
the state the session's `hosts` query answers (`GET /v1/hosts`).

Every host of a session goes PLANNED (at the session's start) -> DISABLED -> IN_MAINTENANCE -> MAINTENANCE_COMPLETE
(back in service); a session that fails or is aborted sends MAINTENANCE_COMPLETE for each host it re-enables and
CANCELLED for the hosts it never touched. PLANNED and CANCELLED name many hosts in one event (`hosts`).
IN_MAINTENANCE and MAINTENANCE_COMPLETE of a maintained host come from its host workflow (workflows/host.py) as they
always did; the others are new commands, so they are sent only where `workflow.patched(HOST_EVENTS)` says the session
runs this code from its start or from that point on.

All of them go through the session's one outbox under one key (no project), so a subscriber gets them in the order
they happened, across hosts too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.hosts import OUT_OF_SERVICE, HostState, HostWindow, SessionHosts
    from fenix.models.notification import EVENT_HOST, HostNotice, fenix_time
    from fenix.models.session import HostPhase, HostRecord, SessionDetail, SessionInput
    from workflows.outbox import Outbox
    from workflows.patches import HOST_EVENTS

# Host names are at most 255 characters: an event stays far below Temporal's 2 MB payload limit.
HOSTS_PER_EVENT = 500


def host_events_on() -> bool:
    """Whether this session sends the transitions that are new in HOST_EVENTS (memoized by the SDK per run)."""
    return workflow.patched(HOST_EVENTS)


def send_host_event(outbox: Outbox, inp: SessionInput, host: str, state: HostState, *,
                    expected_end: datetime | None = None) -> None:
    """The event of one host's transition."""
    notice = HostNotice(project_id=inp.admin_project_id, host=host, state=state.value, session_id=inp.session_id,
                        maintenance_at=fenix_time(inp.maintenance_at), expected_end=fenix_time(expected_end))
    outbox.send(EVENT_HOST, None, notice.model_dump(), informational=True)


def send_hosts_event(outbox: Outbox, inp: SessionInput, hosts: list[str], state: HostState) -> None:
    """The same transition of many hosts at once (PLANNED, CANCELLED), HOSTS_PER_EVENT to an event: one event per
    host would cost a 2,000-host session ~24,000 history events for the announcement alone."""
    for first in range(0, len(hosts), HOSTS_PER_EVENT):
        notice = HostNotice(project_id=inp.admin_project_id, host="", hosts=hosts[first:first + HOSTS_PER_EVENT],
                            state=state.value, session_id=inp.session_id,
                            maintenance_at=fenix_time(inp.maintenance_at))
        outbox.send(EVENT_HOST, None, notice.model_dump(), informational=True)


def host_state(record: HostRecord, session_ended: bool) -> HostState:
    """What an infrastructure service is told of one host record."""
    if record.retired:
        return HostState.RETIRED
    if record.phase == HostPhase.PENDING:
        return HostState.CANCELLED if session_ended else HostState.PLANNED
    if record.phase in (HostPhase.DISABLED, HostPhase.EVACUATING):
        return HostState.DISABLED
    if record.phase == HostPhase.IN_MAINTENANCE and record.disabled_by_session:
        return HostState.IN_MAINTENANCE
    # MAINTAINED, or FAILED and enabled again by the cleanup: in service either way.
    return HostState.MAINTENANCE_COMPLETE


def expected_end(disabled_at: dict[str, datetime], plan_s: dict[str, float], host: str) -> datetime | None:
    """When the session expects `host` back at the latest: its plan for the host from when it was disabled."""
    if host not in disabled_at or host not in plan_s:
        return None
    return disabled_at[host] + timedelta(seconds=plan_s[host])


def session_hosts(detail: SessionDetail, disabled_at: dict[str, datetime], plan_s: dict[str, float]) -> SessionHosts:
    """The answer of the session's `hosts` query (small: no instances, no history)."""
    ended = detail.state.terminal
    windows = []
    for h in detail.hosts:
        state = host_state(h, ended)
        down = state in OUT_OF_SERVICE
        windows.append(HostWindow(host=h.name, state=state, maintained=h.maintained,
                                  disabled_at=disabled_at.get(h.name),
                                  expected_end=expected_end(disabled_at, plan_s, h.name) if down else None))
    return SessionHosts(session_id=detail.session_id, workflow=detail.workflow, state=detail.state.value,
                        maintenance_at=detail.maintenance_at, hosts=windows)
