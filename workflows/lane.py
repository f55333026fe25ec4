"""The instance lane: carry out what was decided for one instance, for both flows.

`carry_out` moves an instance (the chosen move, then the other one; rounds of both while the cloud refuses, within
the session's retry window), waits for its owner's own action (OWN_ACTION), or evicts it, and says how that ended
as an `InstanceOutcome`. A refused or failed action is an outcome, not an exception: the caller decides what it
means (the default flow's host child gives up on the host, the vnf planner tries again later, maybe elsewhere). Two
things still raise: an abort (after a move in flight has ended, `follow_move`), and a move that has not ended after
MOVE_TIMEOUT (`MigrationFailed`, from `follow_move`), as they did before the lane.

The default flow runs the lane inside its host child (workflows/host.py), so the moves of a whole-region session
fill the hosts' histories, not the session's; the vnf flow runs it in the session, where its planner paces each
instance (workflows/vnf.py). Where a move goes is either the planner's word (`target`) or placed here on a fresh
snapshot (fenix/planning/placement.py, with the registered group rules).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.metrics import Figures
    from fenix.models.cloud import SETTLED_STATUSES, Server
    from fenix.models.cloud_ops import EvictRequest, MigrateRequest, SnapshotRequest, WaitEmptyRequest
    from fenix.models.host_run import InstanceOutcome, InstanceRequest, OwnActionClock
    from fenix.models.session import MOVE_ACTIONS, InstanceAction
    from fenix.planning.placement import choose_target
    from workflows.cancel import raise_if_cancelled
    from workflows.clock import stable_now
    from workflows.moves import follow_move
    from workflows.options import CLOUD_CALL, MIGRATION_STEP
    from workflows.patches import SETTLED_MOVES

# The longest pause between two looks at instances whose owners move them themselves (OWN_ACTION). A durable timer,
# so that time-skipping tests and long windows cost nothing while waiting.
OWN_ACTION_POLL = timedelta(seconds=10)

Moved = Callable[[InstanceOutcome], None]  # told when the engine's own move of an instance has ended well
Left = Callable[[str, float], Awaitable[None]]  # told when an owner's instance has left: its id, seconds waited


def other_move(action: InstanceAction) -> InstanceAction:
    """The engine's own move for an instance whose chosen action cannot (or can no longer) be used, or the other
    move after a failed one."""
    return InstanceAction.MIGRATE if action == InstanceAction.LIVE_MIGRATE else InstanceAction.LIVE_MIGRATE


def engine_move(action: InstanceAction) -> InstanceAction:
    """The move the engine makes for an instance whose owner chose `action` but did not carry it out."""
    return action if action in MOVE_ACTIONS else InstanceAction.LIVE_MIGRATE


async def carry_out(req: InstanceRequest, moved: Moved | None = None) -> InstanceOutcome:
    """Carry out `req.action` for one instance; see the module docstring. `moved`: told when a move of the engine's
    own has ended well (for the INSTANCE_ACTION_DONE notice), before this returns."""
    if req.action in MOVE_ACTIONS:
        return await _move(req, moved)
    figures = Figures(workflow.metric_meter())
    outcome = InstanceOutcome(instance_id=req.instance_id, project_id=req.project_id, action=req.action, done=False,
                              fallback=req.note)
    began = workflow.now()
    if req.action == InstanceAction.OWN_ACTION:
        left = await wait_own_actions(req.source_host, [req.instance_id], req.own_action_window_s,
                                      req.move_retry.poll_s, req.own_action_clock)
        outcome.done = not left
        if left:
            outcome.error = f"OWN_ACTION of {req.instance_id} not done by its deadline"
    else:
        try:
            await workflow.execute_activity_method(CloudActivities.evict, EvictRequest(server_id=req.instance_id),
                                                   **MIGRATION_STEP)
            outcome.done = True
        except ActivityError as err:
            if workflow.cancellation_reason() is not None:
                raise
            outcome.error = str(err.cause or err)
            figures.instance_action(req.action.value, "failed", (workflow.now() - began).total_seconds())
            return outcome
        figures.instance_action(req.action.value, "done", (workflow.now() - began).total_seconds())
    outcome.seconds = (workflow.now() - began).total_seconds()
    return outcome


async def wait_own_actions(source: str, ids: list[str], window_s: float, poll_s: float,
                           clock: OwnActionClock = "waits", left: Left | None = None) -> list[str]:
    """Give the owners of `ids` `window_s` seconds to move or delete them off `source` themselves.

    One look at all of them per round: soon at first (owners that act at once are seen at once), then less and less
    often (a slow owner does not fill the history), from `poll_s` doubling up to OWN_ACTION_POLL. Returns the ids
    still there when the window has run out; `left` is told of each one as it goes.
    """
    figures = Figures(workflow.metric_meter())
    began = workflow.now()
    deadline: datetime | None = None
    if clock == "recorded":
        deadline = await stable_now() + timedelta(seconds=window_s)
    elif clock == "host-0.1":
        deadline = began + timedelta(seconds=window_s)
    cap = OWN_ACTION_POLL.total_seconds()
    pause = cap if clock == "host-0.1" else poll_s
    waited = 0.0
    remaining = ids
    while True:
        check = await workflow.execute_activity_method(
            CloudActivities.wait_empty, WaitEmptyRequest(host=source, timeout_s=0, instance_ids=remaining),
            **CLOUD_CALL)
        for iid in sorted(set(remaining) - set(check.remaining)):
            spent = (workflow.now() - began).total_seconds()
            figures.instance_action(InstanceAction.OWN_ACTION.value, "done", spent)
            if left is not None:
                await left(iid, spent)
        remaining = check.remaining
        if not remaining:
            return []
        if clock == "waits":
            rest = window_s - waited
        else:
            now = await stable_now() if clock == "recorded" else workflow.now()
            rest = (deadline - now).total_seconds() if deadline is not None else 0.0
        if rest <= 0:
            break
        await workflow.sleep(min(pause, rest))
        waited += min(pause, rest)
        pause = min(pause * 2, cap)
    for _ in remaining:
        figures.instance_action(InstanceAction.OWN_ACTION.value, "failed", (workflow.now() - began).total_seconds())
    return remaining


async def _move(req: InstanceRequest, moved: Moved | None) -> InstanceOutcome:
    """Rounds of the chosen move and the other one until one works or the retry window ends.

    Later rounds exist for real Nova, whose scheduler can refuse a move for a while after a peer left the target
    (see MoveRetry). Each round starts from a fresh snapshot, so a server that moved meanwhile is not moved again.
    The waits are durable timers.
    """
    outcome = InstanceOutcome(instance_id=req.instance_id, project_id=req.project_id, action=req.action, done=False,
                              fallback=req.note)
    retry = req.move_retry
    give_up = workflow.now() + timedelta(seconds=retry.window_s)
    notes: list[str] = []
    sent: dict[str, InstanceAction] = {}  # the last move the lane sent to the cloud for this instance
    while True:
        if req.rounds:
            raise_if_cancelled()
        done, refused = await _move_round(req, outcome, sent, moved)
        if (not req.rounds or done or not refused
                or workflow.now() + timedelta(seconds=retry.interval_s) > give_up):
            break
        notes.append(f"round {len(notes) + 1} failed ({outcome.error}); tried again after {retry.interval_s:g} s")
        await workflow.sleep(retry.interval_s)
    if notes:
        outcome.fallback = "; ".join([*notes, outcome.fallback or f"round {len(notes) + 1} ended"])
    return outcome


async def _move_round(req: InstanceRequest, outcome: InstanceOutcome, sent: dict[str, InstanceAction],
                      moved: Moved | None) -> tuple[bool, bool]:
    """One try of the chosen move and, if it fails (and `req.fallback`), of the other.

    Returns (done, worth another round). Done means the cloud says so: the server is gone, or it is settled off the
    host (ACTIVE or stopped as it was, a cold migration confirmed). Another round is worth it when the cloud refused
    or failed a move; "no host has room" is Fenix's own placement answer and will not change by waiting, and a
    server in ERROR needs an operator.
    """
    iid, action, refused = req.instance_id, req.action, False
    settled_moves = workflow.patched(SETTLED_MOVES)  # False: a session started before it (replays as it was)
    attempts = [action, other_move(action)] if req.fallback else [action]
    for attempt in attempts:
        target = req.target
        if target is None:
            snap = await workflow.execute_activity_method(CloudActivities.snapshot, SnapshotRequest(), **CLOUD_CALL)
            server = next((s for s in snap.servers if s.id == iid), None)
            if server is None:
                outcome.done, outcome.host, outcome.error = True, None, None
                break  # gone: deleted by its owner
            if server.host != req.source_host:
                # Moved: by its owner, or by a move of ours whose follow-up failed while the cloud went on with it.
                if settled_moves:
                    return await _settle_moved(req, server, outcome, sent, moved)
                outcome.done, outcome.host = True, server.host
                break
            target = choose_target(snap, server, preferred=set(req.preferred_hosts), avoid=set(req.avoid_hosts),
                                   rules=req.rules)
            if target is None:
                outcome.error = f"no host has room for {iid} ({server.vcpus} vCPU, {server.memory_mb} MB)"
                break
        try:
            began = workflow.now()
            sent[iid] = attempt
            res = await follow_move(MigrateRequest(server_id=iid, source_host=req.source_host, target_host=target,
                                                   action=attempt), req.move_retry.poll_s, req.expected_s)
        except ActivityError as err:
            if settled_moves and workflow.cancellation_reason() is not None:
                raise  # aborted: no other move starts (the session settles what is left)
            Figures(workflow.metric_meter()).instance_action(attempt.value, "failed",
                                                             (workflow.now() - began).total_seconds())
            outcome.error = str(err.cause or err)
            refused = True
            if attempt != action:
                break
            if req.fallback:
                outcome.fallback = f"{action.value} failed ({outcome.error}); retried as the other move"
            continue
        outcome.action, outcome.done, outcome.host = attempt, True, res.host
        outcome.seconds = (workflow.now() - began).total_seconds()
        Figures(workflow.metric_meter()).instance_action(attempt.value, "done", outcome.seconds)
        outcome.error = None
        if moved is not None:
            moved(outcome)
        break
    return outcome.done, refused


async def _settle_moved(req: InstanceRequest, server: Server, outcome: InstanceOutcome,
                        sent: dict[str, InstanceAction], moved: Moved | None) -> tuple[bool, bool]:
    """A server that has left the host is done only once the cloud has settled it: a cold migration waiting in
    VERIFY_RESIZE is confirmed, one still under way is followed to its end. A server in ERROR is a failed move.

    Returns like `_move_round`. Another round is worth it only if the cloud kept failing (it may come back).
    """
    ours = sent.get(server.id)
    host: str | None = server.host
    if server.status not in SETTLED_STATUSES:
        try:
            res = await follow_move(MigrateRequest(server_id=server.id, source_host=req.source_host,
                                                   target_host=server.host, action=ours or outcome.action),
                                    req.move_retry.poll_s)
            host = res.host
        except ActivityError as err:
            if workflow.cancellation_reason() is not None:
                raise
            cause = err.cause
            outcome.done = False
            outcome.error = (f"{server.id} left {req.source_host} but did not settle on {server.host} "
                             f"({server.status.value}): {cause or err}")
            broken = isinstance(cause, ApplicationError) and cause.type == "MigrationFailed"
            return False, not broken
    outcome.done, outcome.host = True, host
    if ours is not None:
        # Our own move, whose follow-up had failed (a cloud outage outlasting the step's retries): the cloud finished
        # it after all.
        if outcome.error:
            outcome.fallback = f"{ours.value} reported an error ({outcome.error}), but the cloud finished it"
        outcome.action = ours
        if moved is not None:
            moved(outcome)
    outcome.error = None
    return True, False
