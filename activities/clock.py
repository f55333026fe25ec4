"""The clock reading behind `workflows.clock.stable_now` (run as a local activity)."""

from __future__ import annotations

from temporalio import activity

from fenix.models.clock import ClockRead, ClockReading


@activity.defn(name="read_clock")
def read_clock(req: ClockRead) -> ClockReading:
    # The workflow's own view of the time, unchanged: on the time-skipping test server that is the virtual clock,
    # which timers and the simulated cloud also follow. What matters is not the value but that it is recorded.
    return ClockReading(at=req.seen)
