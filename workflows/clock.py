"""A time to decide from that every replay of the history sees the same.

`workflow.now()` is the start time of the current workflow task, and is meant to replay identically. It does not
in one case we met in crash drills (shared/evidence, main at 4554a83): in the first task after a worker was
killed (its sticky task timed out and a new worker took over), the live activation was given the time of the last
task the dead worker had completed, about 10 s old, while a replay of the same history is given the new task's
start time. A decision that creates or skips a command by comparing times (is this instance's `actions_at`
reached? does an alarm already ring earlier? is the refresh due?) then differs between the live run and every
later replay, and the session stops replaying ([TMPRL1100] "No command scheduled for event TimerStarted").

So a decision reads the time through an activity: its result is written to the history, and a replay takes the
recorded value instead of asking again. A stale reading (in that one task) only delays a decision to the next
wake-up; it can no longer make two runs of the same history disagree.

It was first a local activity (marker `stable-clock-v1`): cheaper, but a local activity that is still running when
an Update (a project's reply) arrives can end up in another workflow task on replay than it did live, and such
histories failed to replay (seen in `make demo`). A regular activity is a command like any other; it costs three
history events per reading. Histories with the local-activity readings keep replaying through that branch.
Durations (how long a timer sleeps) may still come from `workflow.now()`: they are not part of the commands a
replay compares.

Histories written before this existed have no marker: `workflow.patched` keeps them on `workflow.now()` (see
docs/upgrading.md).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.clock import read_clock
    from fenix.models.clock import ClockRead, ClockReading
    from workflows.options import CLOCK_READ, CLOCK_READ_ACTIVITY
    from workflows.patches import CLOCK_ACTIVITY, STABLE_CLOCK


async def stable_now() -> datetime:
    """The current time as recorded in the history (see the module's docstring)."""
    if workflow.patched(CLOCK_ACTIVITY):
        reading: ClockReading = await workflow.execute_activity(read_clock, ClockRead(seen=workflow.now()),
                                                                **CLOCK_READ_ACTIVITY)
        return reading.at
    if not workflow.patched(STABLE_CLOCK):
        return workflow.now()
    reading = await workflow.execute_local_activity(read_clock, ClockRead(seen=workflow.now()), **CLOCK_READ)
    return reading.at
