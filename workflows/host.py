"""One host of a session: move its instances as the owners chose, maintain it, re-enable it.

A child workflow per host keeps each host's history small and shows every host as its own row in the
Web UI. The session (parent) has already disabled the host and asked the owners; this workflow carries
out the plan and reports progress to the parent by signal, so the parent's detail view stays live.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.metrics import Figures
    from fenix.models.cloud import SETTLED_STATUSES, CloudSnapshot, Server
    from fenix.models.cloud_ops import (
        HostRequest,
        MigrateRequest,
        SnapshotRequest,
        WaitEmptyRequest,
    )
    from fenix.models.host_run import (
        ForwardedNotice,
        HostMaintenanceInput,
        HostMaintenanceResult,
        HostProgress,
        InstanceOutcome,
    )
    from fenix.models.notification import (
        EVENT_HOST,
        EVENT_PROJECT,
        INSTANCE_ACTION_DONE,
        INSTANCE_ACTION_FAILED,
        HostNotice,
        instance_notice,
    )
    from fenix.models.plugin import PluginRunRequest, PluginRunResult
    from fenix.models.session import MOVE_ACTIONS, ActionSpec, ActionType, HostPhase, InstanceAction, PluginRunRecord
    from fenix.planning.placement import choose_target
    from workflows.cancel import raise_if_cancelled
    from workflows.moves import follow_move
    from workflows.options import CLOUD_CALL, PLUGIN
    from workflows.outbox import Outbox
    from workflows.patches import FAITHFUL_VNFM, SETTLED_MOVES

# How often OWN_ACTION instances are checked; a durable timer (not a sleep in an activity) so that
# time-skipping tests and long windows cost nothing while waiting.
OWN_ACTION_POLL = timedelta(seconds=10)


def _mover(action: InstanceAction) -> InstanceAction:
    """The engine's own move for an instance whose chosen action cannot (or can no longer) be used."""
    return action if action in MOVE_ACTIONS else InstanceAction.LIVE_MIGRATE


@workflow.defn(name="HostMaintenance")
class HostMaintenanceWorkflow:
    @workflow.init
    def __init__(self, inp: HostMaintenanceInput) -> None:
        self._inp = inp
        self._result = HostMaintenanceResult(host=inp.host)
        self._outbox = Outbox(self._log)
        self._notes: list[asyncio.Task[None]] = []
        self._sent: dict[str, InstanceAction] = {}  # instance id -> the last move this workflow sent to the cloud
        self._via_session = False  # set at the start of run

    @workflow.run
    async def run(self, inp: HostMaintenanceInput) -> HostMaintenanceResult:
        # Informational notices go out through the session (FAITHFUL_VNFM): one order per project with the
        # session's own notices, and a dead endpoint no longer holds this host until its retries end.
        self._via_session = workflow.patched(FAITHFUL_VNFM)
        try:
            return await self._run(inp)
        except ApplicationError:
            # Notices already queued (INSTANCE_ACTION_FAILED above all) still reach the projects before
            # the failure goes up to the session; an abort (cancellation) does not wait for them.
            await self._outbox.drain()
            raise

    async def _run(self, inp: HostMaintenanceInput) -> HostMaintenanceResult:
        await self._progress(phase=HostPhase.EVACUATING)
        for iid, action in sorted(inp.plan.items()):
            if action in MOVE_ACTIONS:
                await self._move(iid, action)
        own = sorted(i for i, a in inp.plan.items() if a == InstanceAction.OWN_ACTION)
        if own:
            await self._wait_own_action(own)
        await self._evacuate_leftovers()

        raise_if_cancelled()
        await self._progress(phase=HostPhase.IN_MAINTENANCE)
        self._host_notice("IN_MAINTENANCE")
        for kind in (ActionType.HOST, ActionType.COMPUTE):
            for spec in (a for a in inp.actions if a.type == kind):
                raise_if_cancelled()
                await self._run_plugin(spec)
        raise_if_cancelled()
        self._host_notice("MAINTENANCE_COMPLETE")
        await workflow.execute_activity_method(
            CloudActivities.enable_host, HostRequest(host=inp.host, reason=inp.disable_reason), **CLOUD_CALL)
        self._result.enabled = True
        await self._progress(phase=HostPhase.MAINTAINED)
        await self._outbox.drain()
        await asyncio.gather(*self._notes)
        return self._result

    # --- instances -----------------------------------------------------------------------------------
    async def _snapshot(self) -> CloudSnapshot:
        return await workflow.execute_activity_method(CloudActivities.snapshot, SnapshotRequest(),
                                                      **CLOUD_CALL)

    async def _move(self, iid: str, action: InstanceAction, fallback: str | None = None) -> None:
        """Move one instance: the chosen move, then the other one; rounds of both until the retry window ends.

        Later rounds exist for real Nova, whose scheduler can refuse a move for a while after a peer left
        the target (see MoveRetry). Each round starts from a fresh snapshot, so a server that moved meanwhile
        is not moved again. The waits are durable timers.
        """
        project = self._inp.owners.get(iid, "")
        outcome = InstanceOutcome(instance_id=iid, project_id=project, action=action, done=False,
                                  fallback=fallback)
        retry = self._inp.move_retry
        give_up = workflow.now() + timedelta(seconds=retry.window_s)
        notes: list[str] = []
        while True:
            raise_if_cancelled()
            done, refused = await self._move_round(iid, action, project, outcome)
            if done or not refused or workflow.now() + timedelta(seconds=retry.interval_s) > give_up:
                break
            notes.append(f"round {len(notes) + 1} failed ({outcome.error}); tried again after {retry.interval_s:g} s")
            await workflow.sleep(retry.interval_s)
        if notes:
            outcome.fallback = "; ".join([*notes, outcome.fallback or f"round {len(notes) + 1} ended"])
        self._result.instances.append(outcome)
        await self._progress(instance=outcome)
        if not outcome.done:
            self._instance_notice(project, iid, INSTANCE_ACTION_FAILED, {"reason": outcome.error or ""})
            raise ApplicationError(f"could not move instance {iid} off {self._inp.host}: {outcome.error}",
                                   type="HostNotEmptied", non_retryable=True)

    async def _move_round(self, iid: str, action: InstanceAction, project: str,
                          outcome: InstanceOutcome) -> tuple[bool, bool]:
        """One try of the chosen move and, if it fails, of the other.

        Returns (done, worth another round). Done means the cloud says so: the server is gone, or it is settled
        off the host (ACTIVE or stopped as it was, a cold migration confirmed). Another round is worth it when the
        cloud refused or failed a move; "no host has room" is Fenix's own placement answer and will not change by
        waiting, and a server in ERROR needs an operator.
        """
        refused = False
        retry = self._inp.move_retry
        settled_moves = workflow.patched(SETTLED_MOVES)  # False: a session started before it (replays as it was)
        for attempt in (action, InstanceAction.MIGRATE if action == InstanceAction.LIVE_MIGRATE
                        else InstanceAction.LIVE_MIGRATE):
            snap = await self._snapshot()
            server = next((s for s in snap.servers if s.id == iid), None)
            if server is None:
                outcome.done, outcome.host, outcome.error = True, None, None
                break  # gone: deleted by its owner
            if server.host != self._inp.host:
                # Moved: by its owner, or by a move of ours whose follow-up failed while the cloud went on with it.
                if settled_moves:
                    return await self._settle_moved(server, project, outcome)
                outcome.done, outcome.host = True, server.host
                break
            target = choose_target(snap, server, preferred=set(self._inp.preferred_hosts),
                                   avoid=set(self._inp.avoid_hosts))
            if target is None:
                outcome.error = f"no host has room for {iid} ({server.vcpus} vCPU, {server.memory_mb} MB)"
                break
            try:
                began = workflow.now()
                self._sent[iid] = attempt
                res = await follow_move(MigrateRequest(server_id=iid, source_host=self._inp.host,
                                                       target_host=target, action=attempt), retry.poll_s)
            except ActivityError as err:
                if settled_moves and workflow.cancellation_reason() is not None:
                    raise  # aborted: no other move starts (the session settles what is left)
                Figures(workflow.metric_meter()).instance_action(attempt.value, "failed",
                                                                 (workflow.now() - began).total_seconds())
                outcome.error = str(err.cause or err)
                refused = True
                if attempt != action:
                    break
                outcome.fallback = f"{action.value} failed ({outcome.error}); retried as the other move"
                continue
            outcome.action, outcome.done, outcome.host = attempt, True, res.host
            outcome.seconds = (workflow.now() - began).total_seconds()
            Figures(workflow.metric_meter()).instance_action(attempt.value, "done", outcome.seconds)
            outcome.error = None
            self._instance_notice(project, iid, INSTANCE_ACTION_DONE, {})
            break
        return outcome.done, refused

    async def _settle_moved(self, server: Server, project: str, outcome: InstanceOutcome) -> tuple[bool, bool]:
        """A server that has left the host is done only once the cloud has settled it: a cold migration waiting in
        VERIFY_RESIZE is confirmed, one still under way is followed to its end. A server in ERROR is a failed move.

        Returns like `_move_round`. Another round is worth it only if the cloud kept failing (it may come back).
        """
        ours = self._sent.get(server.id)
        host: str | None = server.host
        if server.status not in SETTLED_STATUSES:
            try:
                res = await follow_move(MigrateRequest(server_id=server.id, source_host=self._inp.host,
                                                       target_host=server.host, action=ours or outcome.action),
                                        self._inp.move_retry.poll_s)
                host = res.host
            except ActivityError as err:
                if workflow.cancellation_reason() is not None:
                    raise
                cause = err.cause
                outcome.done = False
                outcome.error = (f"{server.id} left {self._inp.host} but did not settle on {server.host} "
                                 f"({server.status.value}): {cause or err}")
                broken = isinstance(cause, ApplicationError) and cause.type == "MigrationFailed"
                return False, not broken
        outcome.done, outcome.host = True, host
        if ours is not None:
            # Our own move, whose follow-up had failed (a cloud outage outlasting the step's retries): the cloud
            # finished it after all.
            if outcome.error:
                outcome.fallback = f"{ours.value} reported an error ({outcome.error}), but the cloud finished it"
            outcome.action = ours
            self._instance_notice(project, server.id, INSTANCE_ACTION_DONE, {})
        outcome.error = None
        return True, False

    async def _wait_own_action(self, own: list[str]) -> None:
        """Give the owners until the deadline to move or delete OWN_ACTION instances themselves."""
        began = workflow.now()
        deadline = began + timedelta(seconds=self._inp.own_action_timeout_s)
        remaining = own
        figures = Figures(workflow.metric_meter())
        while True:
            check = await workflow.execute_activity_method(
                CloudActivities.wait_empty,
                WaitEmptyRequest(host=self._inp.host, timeout_s=0, instance_ids=remaining), **CLOUD_CALL)
            for iid in sorted(set(remaining) - set(check.remaining)):
                outcome = InstanceOutcome(instance_id=iid, project_id=self._inp.owners.get(iid, ""),
                                          action=InstanceAction.OWN_ACTION, done=True)
                figures.instance_action(InstanceAction.OWN_ACTION.value, "done",
                                        (workflow.now() - began).total_seconds())
                self._result.instances.append(outcome)
                await self._progress(instance=outcome)
            remaining = check.remaining
            left = (deadline - workflow.now()).total_seconds()
            if not remaining or left <= 0:
                break
            await workflow.sleep(min(OWN_ACTION_POLL.total_seconds(), left))
        for iid in remaining:
            figures.instance_action(InstanceAction.OWN_ACTION.value, "failed", (workflow.now() - began).total_seconds())
            await self._move(iid, _mover(self._inp.default_action),
                             fallback="OWN_ACTION not done by its deadline; the engine moved it")

    async def _evacuate_leftovers(self) -> None:
        """Servers not in the plan (created since it was made) are moved with the default action."""
        snap = await self._snapshot()
        handled = {o.instance_id for o in self._result.instances}
        for server in snap.servers_on(self._inp.host):
            if server.id not in handled:
                self._inp.owners.setdefault(server.id, server.project_id)
                await self._move(server.id, _mover(self._inp.default_action),
                                 fallback="not in the plan; moved with the default action")

    # --- plug-ins --------------------------------------------------------------------------------------
    async def _run_plugin(self, spec: ActionSpec) -> None:
        try:
            res: PluginRunResult = await workflow.execute_activity(
                "run_action_plugin",
                PluginRunRequest(session_id=self._inp.session_id, host=self._inp.host, spec=spec,
                                 session_metadata=self._inp.session_metadata),
                result_type=PluginRunResult, **PLUGIN)
        except ActivityError as err:
            record = PluginRunRecord(plugin=spec.plugin, type=spec.type, host=self._inp.host, state="FAILED",
                                     output=str(err.cause or err))
            self._result.plugin_runs.append(record)
            await self._progress(plugin_run=record)
            raise ApplicationError(f"action plug-in {spec.plugin!r} failed on {self._inp.host}: "
                                   f"{err.cause or err}", type="PluginFailed", non_retryable=True) from err
        record = PluginRunRecord(plugin=res.plugin, type=res.type, host=res.host, state=res.state,
                                 output=res.output, duration_s=res.duration_s)
        self._result.plugin_runs.append(record)
        await self._progress(plugin_run=record)

    # --- notices and progress -------------------------------------------------------------------------
    def _instance_notice(self, project: str, iid: str, state: str, metadata: dict[str, str]) -> None:
        notice = instance_notice(self._inp.api_url, self._inp.session_id, project, iid, state, metadata)
        self._send(EVENT_PROJECT, project, notice.model_dump())

    def _host_notice(self, state: str) -> None:
        notice = HostNotice(project_id=self._inp.admin_project_id, host=self._inp.host, state=state,
                            session_id=self._inp.session_id)
        self._send(EVENT_HOST, None, notice.model_dump())

    def _send(self, event_type: str, project_id: str | None, payload: dict[str, Any]) -> None:
        if self._via_session:
            notice = ForwardedNotice(event_type=event_type, project_id=project_id, payload=payload)
            self._notes.append(asyncio.create_task(self._progress(notice=notice)))
        else:
            self._outbox.send(event_type, project_id, payload)

    def _log(self, message: str, project_id: str | None) -> None:
        workflow.logger.warning(message)
        self._notes.append(asyncio.create_task(self._progress(note=message)))

    async def _progress(self, **fields: object) -> None:
        progress = HostProgress.model_validate({"host": self._inp.host, **fields})
        parent = workflow.get_external_workflow_handle(self._inp.parent_workflow_id)
        await parent.signal("host_progress", progress)
