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
# Fenix-era VNFMs in the vnf flow: a warned member counts against its group's budget; no warning ahead of a host
# that cannot be emptied yet; a bare reply answers the one instance waiting, and is refused when several wait;
# AODH subscribers and bare repliers are asked one instance at a time; project and instance questions are kept
# apart (fenix/planning/pacer.py warn_within_budget, workflows/vnf_questions.py reply_targets).
FAITHFUL_VNFM = "faithful-vnfm-v1"
# Only the vnf loop reads the recorded clock (one local activity at a time); ended actions are dated by its next
# reading (workflows/vnf.py). Concurrent clock reads split over workflow tasks replayed differently.
CLOCK_IN_LOOP = "clock-in-loop-v1"
# The recorded clock is read by a regular activity, not a local one (workflows/clock.py: local activities racing
# project replies (Updates) were split over workflow tasks differently on replay).
CLOCK_ACTIVITY = "clock-activity-v1"
# POST /subscriptions with the content of an existing subscription returns that one instead of adding a twin.
SUBSCRIPTION_DEDUPE = "subscription-dedupe-v1"
# A failed or aborted session settles its instances (confirm VERIFY_RESIZE, follow moves in flight) before it
# re-enables its hosts (workflows/settle.py, called from the session's cleanup).
SETTLE_AT_CLEANUP = "settle-at-cleanup-v1"
# The abort of a wedged session gives the session's host lease back as soon as it has terminated it and re-enabled
# its hosts (workflows/abort.py, workflows/leases.py); before, the lease lapsed at the next grant's check.
ABORT_RELEASES_LEASE = "abort-releases-lease-v1"
# The vnf planner warns ahead also on hosts that cannot be emptied yet but will be, by the forecast, before the
# warned members' lead times run out (fenix/planning/pacer.py lookahead): the critical groups fill their first rounds.
ADMISSION_LOOKAHEAD = "admission-lookahead-v1"
# One instance lane for both flows (workflows/lane.py): the host child waits for OWN_ACTION instances with the lane's
# poll (soon, then doubling up to OWN_ACTION_POLL; its time counted from its own waits), not a fixed 10 s poll.
ONE_LANE = "one-lane-v1"
# The default flow reads the registered constraints and places by their group rules (anti-affinity,
# max_instances_per_host; fenix/planning/placement.py) in its choice of host and in the host child's moves.
GROUP_PLACEMENT = "group-placement-v1"
# The wait for `maintenance_at` is a wait_condition with a timeout (not a sleep), so that `PUT /v1/maintenance/{id}`
# can move the window of a session still waiting for it; the projects are asked about the new time
# (workflows/window.py).
RESCHEDULE = "reschedule-v1"
# maintenance.host events for every host transition: PLANNED at the start, DISABLED, MAINTENANCE_COMPLETE for every
# host a failed session re-enables, CANCELLED for those it never touched (workflows/host_events.py).
HOST_EVENTS = "host-events-v1"
# A move that shows no change is looked at less and less often: the pause between migrate_step activities doubles
# up to 30 s and a quarter of the time since the last change (workflows/moves.py, MOVE_POLL_MAX_S).
MOVE_POLL_BACKOFF = "move-poll-backoff-v1"
# Hosts are read as the session disables them and as it enables them again (their hypervisor, traits, aggregates:
# `read_facts` on disable_host / enable_host), and MAINTENANCE_COMPLETE carries what changed and each project's
# scale-out figures, read by one capacity_figures activity (workflows/capabilities.py).
CAPABILITIES = "capabilities-v1"
