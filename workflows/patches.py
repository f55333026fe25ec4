"""The `workflow.patched` ids of behaviour changes, in one place (how to add and retire one: docs/upgrading.md).

A session that started on an older Fenix replays its history on the new worker: where the new code would issue
other commands than the history holds, it asks `workflow.patched(ID)`, which is False for those histories (they
carry no marker) and True, with a marker written, for everything that runs the new code. Remove a branch (and
keep the id in `deprecate_patch`) once no session older than the change can still be running.
"""

from __future__ import annotations

# Decisions read a clock recorded in the history (workflows/clock.py), not workflow.now().
STABLE_CLOCK = "stable-clock-v1"
# A notice's reply window / lead time runs from its delivery, not from when it was queued.
DEADLINE_FROM_DELIVERY = "deadline-from-delivery-v1"
# A move is done only when the cloud has settled the server (confirmed, followed; ERROR is a failure), and an abort
# does not cancel the move in flight, its steps included (workflows/moves.py, workflows/host.py).
SETTLED_MOVES = "settled-moves-v1"
# POST /subscriptions with the content of an existing subscription returns that one instead of adding a twin.
SUBSCRIPTION_DEDUPE = "subscription-dedupe-v1"
# A failed or aborted session settles its instances (confirm VERIFY_RESIZE, follow moves in flight) before it
# re-enables its hosts (workflows/settle.py, called from the session's cleanup).
SETTLE_AT_CLEANUP = "settle-at-cleanup-v1"
