"""The simulated cloud's clock: Temporal's time inside activities, the wall clock elsewhere.

The simulator computes when a migration ends from its clock. Inside an activity that clock is the time the
Temporal server scheduled the activity, plus the time the activity has run since its first look at the clock. On a
dev server that is the wall clock (give or take milliseconds); on the time-skipping test server it is the server's
virtual clock (which runs at real speed while an activity runs), so a 40 s live migration followed with durable
timers takes no real time at all, and the migration log can be compared with the session's own timestamps.
"""

from __future__ import annotations

import threading
import time

from temporalio import activity

_first_look: dict[tuple[str, str, int], float] = {}
_lock = threading.Lock()
_KEEP = 10_000  # attempts remembered (activities are short; old entries are dropped in bulk)


def temporal_clock() -> float:
    if not activity.in_activity():
        return time.time()
    info = activity.info()
    key = (info.workflow_run_id or "", info.activity_id, info.attempt)
    now = time.monotonic()
    with _lock:
        if len(_first_look) > _KEEP:
            _first_look.clear()
        first = _first_look.setdefault(key, now)
    return info.current_attempt_scheduled_time.timestamp() + (now - first)
