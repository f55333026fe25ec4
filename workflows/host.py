"""One host of a session: maintain an empty host (leftovers, plug-ins, re-enable), after the default flow's moves.

A child workflow per host keeps each host's history small and shows every host as its own row in the Web UI. The
session (parent) has already disabled the host and asked the owners. For the `default` flow this workflow carries out
the owners' plan through the instance lane (workflows/lane.py): the moves of a whole-region session fill the hosts'
histories, not the session's. The `vnf` flow moves instances itself (through the same lane) and starts this workflow
with an empty plan. Progress goes to the parent by signal, so the parent's detail view stays live.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.models.cloud_ops import HostRequest, SnapshotRequest
    from fenix.models.host_run import (
        ForwardedNotice,
        HostMaintenanceInput,
        HostMaintenanceResult,
        HostProgress,
        InstanceOutcome,
        InstanceRequest,
        OwnActionClock,
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
    from workflows.cancel import raise_if_cancelled
    from workflows.lane import carry_out, engine_move, wait_own_actions
    from workflows.options import CLOUD_CALL, PLUGIN
    from workflows.outbox import Outbox
    from workflows.patches import FAITHFUL_VNFM, ONE_LANE


@workflow.defn(name="HostMaintenance")
class HostMaintenanceWorkflow:
    @workflow.init
    def __init__(self, inp: HostMaintenanceInput) -> None:
        self._inp = inp
        self._result = HostMaintenanceResult(host=inp.host)
        self._outbox = Outbox(self._log)
        self._notes: list[asyncio.Task[None]] = []
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
        if inp.retire_reason is not None:
            return await self._retire(inp.retire_reason)

        raise_if_cancelled()
        await self._progress(phase=HostPhase.IN_MAINTENANCE)
        self._host_notice("IN_MAINTENANCE")
        for kind in (ActionType.HOST, ActionType.COMPUTE):
            for spec in (a for a in inp.actions if a.type == kind):
                raise_if_cancelled()
                await self._run_plugin(spec)
        raise_if_cancelled()
        self._host_notice("MAINTENANCE_COMPLETE")
        res = await workflow.execute_activity_method(
            CloudActivities.enable_host, HostRequest(host=inp.host, reason=inp.disable_reason,
                                                     read_facts=inp.read_facts), **CLOUD_CALL)
        self._result.enabled, self._result.facts = True, res.facts
        await self._progress(phase=HostPhase.MAINTAINED)
        await self._outbox.drain()
        await asyncio.gather(*self._notes)
        return self._result

    async def _retire(self, reason: str) -> HostMaintenanceResult:
        """Leave the empty host disabled for good: no plug-ins (it is not upgraded), no IN_MAINTENANCE or
        MAINTENANCE_COMPLETE; the session sends RETIRED. The new reason is what keeps every cleanup off it."""
        raise_if_cancelled()
        await workflow.execute_activity_method(
            CloudActivities.disable_host, HostRequest(host=self._inp.host, reason=reason,
                                                      replaces=self._inp.disable_reason), **CLOUD_CALL)
        self._result.retired = True
        await self._progress(phase=HostPhase.RETIRED)
        await self._outbox.drain()
        await asyncio.gather(*self._notes)
        return self._result

    # --- instances: the lane (workflows/lane.py) -----------------------------------------------------
    def _request(self, iid: str, action: InstanceAction, note: str | None = None) -> InstanceRequest:
        inp = self._inp
        return InstanceRequest(instance_id=iid, project_id=inp.owners.get(iid, ""), source_host=inp.host,
                               action=action, preferred_hosts=inp.preferred_hosts, avoid_hosts=inp.avoid_hosts,
                               rules=inp.rules, move_retry=inp.move_retry, own_action_window_s=inp.own_action_timeout_s,
                               note=note)

    async def _move(self, iid: str, action: InstanceAction, note: str | None = None) -> None:
        """Move one instance through the lane; a move that did not happen fails the host (the session cleans up)."""
        outcome = await carry_out(self._request(iid, action, note), self._moved)
        await self._record(outcome)
        if not outcome.done:
            self._instance_notice(outcome.project_id, iid, INSTANCE_ACTION_FAILED, {"reason": outcome.error or ""})
            raise ApplicationError(f"could not move instance {iid} off {self._inp.host}: {outcome.error}",
                                   type="HostNotEmptied", non_retryable=True)

    def _moved(self, outcome: InstanceOutcome) -> None:
        self._instance_notice(outcome.project_id, outcome.instance_id, INSTANCE_ACTION_DONE, {})

    async def _record(self, outcome: InstanceOutcome) -> None:
        self._result.instances.append(outcome)
        await self._progress(instance=outcome)

    async def _wait_own_action(self, own: list[str]) -> None:
        """Give the owners until the deadline to move or delete OWN_ACTION instances themselves; the engine moves
        what is left. ONE_LANE: the lane's poll (soon, then less often); before it, a fixed poll (as recorded)."""
        async def left(iid: str, spent: float) -> None:
            await self._record(InstanceOutcome(instance_id=iid, project_id=self._inp.owners.get(iid, ""),
                                               action=InstanceAction.OWN_ACTION, done=True, seconds=spent))

        clock: OwnActionClock = "waits" if workflow.patched(ONE_LANE) else "host-0.1"
        remaining = await wait_own_actions(self._inp.host, own, self._inp.own_action_timeout_s,
                                           self._inp.move_retry.poll_s, clock, left)
        for iid in remaining:
            await self._move(iid, engine_move(self._inp.default_action),
                             note="OWN_ACTION not done by its deadline; the engine moved it")

    async def _evacuate_leftovers(self) -> None:
        """Servers not in the plan (created since it was made) are moved with the default action."""
        snap = await workflow.execute_activity_method(CloudActivities.snapshot, SnapshotRequest(), **CLOUD_CALL)
        handled = {o.instance_id for o in self._result.instances}
        for server in snap.servers_on(self._inp.host):
            if server.id not in handled:
                self._inp.owners.setdefault(server.id, server.project_id)
                await self._move(server.id, engine_move(self._inp.default_action),
                                 note="not in the plan; moved with the default action")

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
