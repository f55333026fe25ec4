"""The simulated cloud's clock: Temporal's time inside activities, the wall clock elsewhere.

The simulator computes when a migration ends from its clock. Inside an activity that clock is the time the
Temporal server scheduled the activity, so simulated durations pass in the same time as the workflows' timers.
On a dev server that is the wall clock (give or take milliseconds); on the time-skipping test server it is the
server's virtual clock, so a 40 s live migration followed with durable timers takes no real time at all, and
the migration log can be compared with the session's own timestamps.
"""

from __future__ import annotations

import time

from temporalio import activity


def temporal_clock() -> float:
    if activity.in_activity():
        return activity.info().current_attempt_scheduled_time.timestamp()
    return time.time()
