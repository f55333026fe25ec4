"""The clock reading behind `workflows.clock.stable_now` (run as a local activity)."""

from __future__ import annotations

from temporalio import activity

from fenix.models.clock import ClockRead, ClockReading


@activity.defn(name="read_clock")
def read_clock(req: ClockRead) -> ClockReading:
    # Temporal's own clock: when the server scheduled this reading (virtual on the time-skipping test server, which
    # timers and the simulated cloud also follow), never before what the workflow saw. As a local activity (0.1.1
    # histories) there is no server schedule time worth more than the workflow's view: that is kept.
    at = req.seen
    if activity.in_activity() and not activity.info().is_local:
        at = max(at, activity.info().current_attempt_scheduled_time)
    return ClockReading(at=at)
