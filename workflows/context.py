"""What a session flow may use of its session: the `SessionContext`.

The session workflow (workflows/session.py) owns one context and hands it to its flow (workflows/default_flow.py
or workflows/vnf.py). The context is the flow's only way to the session: its input, the detail the queries show
(the state changes in one method, `set_state`), the history log, disabling a host, reading the cloud, maintaining a
host in a child workflow, and asking projects (through the session's conversation, workflows/conversation.py).
Every command a method issues is the one the session issued before the context existed: moving code here changed no
history.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.constants import SA_HOSTS, SA_STATE, disable_reason, host_workflow_id, retired_reason
    from fenix.metrics import Figures
    from fenix.models import session_pages
    from fenix.models.audit import Actor
    from fenix.models.capabilities import note_after, note_start
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.cloud_ops import HostRequest, SnapshotRequest
    from fenix.models.host_run import HostMaintenanceInput, HostMaintenanceResult, PlacementRule
    from fenix.models.hosts import HostState
    from fenix.models.plugin import PluginRunRequest, PluginRunResult
    from fenix.models.reply import ProjectReply
    from fenix.models.session import (
        ActionType,
        HistoryEntry,
        HostPhase,
        HostRecord,
        InstanceAction,
        InstanceRecord,
        PluginRunRecord,
        ProjectRecord,
        SessionDetail,
        SessionInput,
        SessionState,
    )
    from fenix.models.steering import Choice
    from workflows.cancel import raise_if_cancelled
    from workflows.errors import SessionFailed
    from workflows.gate import HealthGate
    from workflows.host import HostMaintenanceWorkflow
    from workflows.host_events import expected_end, host_events_on, send_host_event, send_hosts_event
    from workflows.host_plan import host_plan_s
    from workflows.options import CLOUD_CALL, PLUGIN
    from workflows.outbox import Outbox
    from workflows.patches import CAPABILITIES
    from workflows.retire import host_retired
    from workflows.steering import Steering
    from workflows.window import Window


class Questions(Protocol):
    """How the context asks projects: the session's conversation (workflows/conversation.py)."""

    async def ask(self, state: SessionState, projects: list[str], window_s: float, *,
                  instances: dict[str, list[str]] | None = None, allowed: list[InstanceAction] | None = None,
                  actions_at: datetime | None = None, metadata: dict[str, object] | None = None,
                  nack_fails: bool = True, project_metadata: dict[str, dict[str, object]] | None = None) -> None: ...

    def reply_of(self, project_id: str) -> ProjectReply | None: ...

    def asked_since(self, project_id: str) -> datetime | None: ...


class SessionContext:
    """The session as its flow sees it (built in the workflow's `__init__`; no command is issued there)."""

    def __init__(self, inp: SessionInput) -> None:
        self.inp = inp
        self.detail = SessionDetail(session_id=inp.session_id, workflow=inp.workflow,
                                    maintenance_at=inp.maintenance_at, metadata=inp.metadata)
        self.faithful = False  # set at the start of the run (workflows/patches.py FAITHFUL_VNFM)
        self.outbox = Outbox(self._delivery_failed)
        # For the metrics only (the census's `gauges` query); never read by a decision.
        self.disabled_at: dict[str, datetime] = {}  # host -> when this session disabled it
        self.plan_s: dict[str, float] = {}  # host -> how long the session planned it to stay disabled
        self._questions: Questions | None = None
        self.steering = Steering(self)
        self.window = Window(self)
        self.gate = HealthGate(inp, self.detail, self.steering)

    def attach(self, questions: Questions) -> None:
        """The conversation that `ask` goes through (it needs the context itself, so it comes second)."""
        self._questions = questions

    @property
    def questions(self) -> Questions:
        assert self._questions is not None, "the session attaches its conversation in __init__"
        return self._questions

    # --- asking ------------------------------------------------------------------------------------------
    async def ask(self, state: SessionState, projects: list[str], window_s: float, *,
                  instances: dict[str, list[str]] | None = None, allowed: list[InstanceAction] | None = None,
                  actions_at: datetime | None = None, metadata: dict[str, object] | None = None,
                  nack_fails: bool = True, project_metadata: dict[str, dict[str, object]] | None = None) -> None:
        """Notify `projects` of `state` and wait for their answers or defaults (workflows/conversation.py).
        `project_metadata`: added to the metadata of each named project's notice."""
        await self.questions.ask(state, projects, window_s, instances=instances, allowed=allowed,
                                 actions_at=actions_at, metadata=metadata, nack_fails=nack_fails,
                                 project_metadata=project_metadata)

    def reply_of(self, project_id: str) -> ProjectReply | None:
        """The project's answer to the last question it was asked, if it answered."""
        return self.questions.reply_of(project_id)

    @property
    def drain_limit(self) -> timedelta | None:
        """How long the end waits for notices still being retried (None, before FAITHFUL_VNFM: until they end)."""
        return timedelta(seconds=self.inp.drain_limit_s) if self.faithful else None

    # --- the detail --------------------------------------------------------------------------------------
    def set_state(self, state: SessionState, current: str) -> None:
        """The one place the session's state changes."""
        d = self.detail
        if state != d.state or (d.history_dropped == 0 and not any(h.kind == "state" for h in d.history)):
            self.log("state", state.value, state=state.value)
            Figures(workflow.metric_meter()).session_transition(self.detail.workflow, state.value)
        self.detail.state = state
        if state.terminal:
            self.steering.close()
        workflow.upsert_search_attributes([SA_STATE.value_set(state.value)])
        self.current(current)

    def current(self, text: str) -> None:
        """What the session does now (the detail's `current`, and the Web UI's current details)."""
        d = self.detail
        d.current = text
        done = sum(h.maintained for h in d.hosts)
        s = d.steering
        paused = (f"\n\n**PAUSED** by {s.paused_by} since {s.paused_at:%Y-%m-%d %H:%M:%S} UTC"
                  f"{': ' + s.pause_reason if s.pause_reason else ''}" if s.paused and s.paused_at else "")
        # Markdown shown in the Web UI's "current details".
        workflow.set_current_details(f"**{d.state.value}** — {text}\n\nhosts maintained: {done}/{len(d.hosts)}"
                                     f"{paused}")

    async def wait_for_window(self, metadata: dict[str, object] | None = None) -> None:
        """Until `maintenance_at`, which a reschedule may move meanwhile (workflows/window.py)."""
        await self.window.wait(metadata or {})

    async def wait_unpaused(self) -> None:
        """Hold here while the session is paused (workflows/steering.py); the flows call it before they start a
        host or an instance action. Nothing is issued unless the session is paused."""
        await self.steering.wait_unpaused()

    def upsert_hosts(self) -> None:
        out = sorted(h.name for h in self.detail.hosts if h.disabled_by_session)
        workflow.upsert_search_attributes([SA_HOSTS.value_set(out)])

    def log(self, kind: str, detail: str, *, project_id: str | None = None, host: str | None = None,
            state: str | None = None, actor: Actor | None = None) -> None:
        history = self.detail.history
        history.append(HistoryEntry(at=workflow.now(), kind=kind, detail=detail, project_id=project_id, host=host,
                                    state=state, actor=actor))
        # A ring: state only (no command depends on the log), so no patch; the paged reads number entries across it.
        if len(history) > session_pages.LOG_MAX:
            excess = len(history) - session_pages.LOG_MAX
            del history[:excess]
            self.detail.history_dropped += excess
        # The same entry in the worker's log, as fields (fenix/logs.py adds the session and workflow ids).
        # workflow.logger is silent while a history replays, so each entry is logged once.
        fields = {"entry_kind": kind, "project_id": project_id, "host": host, "state": state,
                  "actor": actor.name if actor else None, "actor_project_id": actor.project_id if actor else None}
        workflow.logger.log(logging.WARNING if kind == "error" else logging.INFO, "%s: %s", kind, detail,
                            extra={k: v for k, v in fields.items() if v is not None})

    def _delivery_failed(self, message: str, project_id: str | None) -> None:
        self.log("error", message, project_id=project_id)

    def project_ids(self, *, with_instances: bool = False) -> list[str]:
        """Projects of the session; those that scaled in to nothing still hear MAINTENANCE_COMPLETE."""
        live = {i.project_id for i in self.detail.instances}
        return [p.project_id for p in self.detail.projects if not with_instances or p.project_id in live]

    # --- the cloud ---------------------------------------------------------------------------------------
    async def start(self) -> tuple[CloudSnapshot, list[str]]:
        """The first look at the cloud: the session's hosts (all of them, enabled) and their instances."""
        inp = self.inp
        if inp.requested_by_actor is not None:  # no command: an entry in the record only
            self.log("audit", "start", actor=inp.requested_by_actor)
        snap = await self.snapshot(inp.hosts)
        targets = sorted(inp.hosts) if inp.hosts else sorted(h.name for h in snap.hosts)
        if not targets:
            raise SessionFailed("the cloud has no compute hosts")
        already = [h for h in snap.hosts if h.name in targets and not h.enabled]
        if already:
            raise SessionFailed("host(s) already disabled before the session, not taken over: " + ", ".join(
                f"{h.name} ({h.disabled_reason or 'no reason given'})" for h in already))
        self.detail.hosts = [HostRecord(name=h) for h in targets]
        if host_events_on():
            send_hosts_event(self.outbox, inp, targets, HostState.PLANNED)
        self.track_instances(snap)
        note_start(self.detail.projects, snap.servers)  # state only: for the end's scale-out figures
        self.log("info", f"session over {len(targets)} host(s), {len(self.detail.instances)} instance(s) of "
                         f"{len(self.detail.projects)} project(s)")
        return snap, targets

    async def snapshot(self, hosts: list[str]) -> CloudSnapshot:
        return await workflow.execute_activity_method(CloudActivities.snapshot, SnapshotRequest(hosts=hosts),
                                                      **CLOUD_CALL)

    def track_instances(self, snap: CloudSnapshot) -> None:
        """Refresh the instances on session hosts; projects are added as they appear, never dropped."""
        d = self.detail
        targets = {h.name for h in d.hosts}
        previous = {i.instance_id: i for i in d.instances}
        current: list[InstanceRecord] = []
        for server in snap.servers:
            if server.host not in targets and server.id not in previous:
                continue
            record = previous.get(server.id) or InstanceRecord(
                instance_id=server.id, name=server.name, project_id=server.project_id, host=server.host,
                original_host=server.host)
            record.host = server.host
            current.append(record)
            if all(p.project_id != server.project_id for p in d.projects):
                d.projects.append(ProjectRecord(project_id=server.project_id))
        seen = {r.instance_id for r in current}
        # Gone, but acted on by the session (evicted, re-created by its owner): the record stays, without a host.
        current += [r.model_copy(update={"host": None}) for iid, r in previous.items()
                    if iid not in seen and r.action is not None and r.action_done]
        d.instances = sorted(current, key=lambda i: (i.project_id, i.name, i.instance_id))
        d.projects.sort(key=lambda p: p.project_id)

    @property
    def disable_reason(self) -> str:
        return disable_reason(self.inp.session_id)

    async def disable(self, host: str, plan_s: float | None = None) -> None:
        """Disable `host` for the session. `plan_s`: how long it should stay so at most (workflows/host_plan.py;
        default: from the session's windows and the instances on it now), for the metrics."""
        record = self.detail.host(host)
        if record.disabled_by_session or record.maintained:
            return
        await self.wait_unpaused()
        await self.gate.check()
        # Marked before the call: an abort can land while the disable is in flight and still happen in the
        # cloud. The cleanup then enables the host only if it carries this session's reason.
        record.disabled_by_session = True
        self.disabled_at[host] = workflow.now()
        self.plan_s[host] = plan_s if plan_s is not None else host_plan_s(
            self.inp, sum(1 for i in self.detail.instances if i.host == host))
        res = await workflow.execute_activity_method(
            CloudActivities.disable_host, HostRequest(host=host, reason=self.disable_reason,
                                                      read_facts=workflow.patched(CAPABILITIES)), **CLOUD_CALL)
        record.capabilities_before = res.facts
        record.phase = HostPhase.DISABLED
        self.log("host", f"{host} disabled", host=host)
        self.upsert_hosts()
        if host_events_on():
            send_host_event(self.outbox, self.inp, host, HostState.DISABLED,
                            expected_end=expected_end(self.disabled_at, self.plan_s, host))

    async def maintain(self, host: str, plan: dict[str, InstanceAction],
                       owners: dict[str, str] | None = None, rules: list[PlacementRule] | None = None) -> None:
        """Disable `host` (if not yet) and run its `HostMaintenance` child with `plan` for its instances."""
        raise_if_cancelled()
        await self.disable(host)
        while True:
            await self.wait_unpaused()
            try:
                await self._maintain(host, plan, owners, rules)
                break
            except (ActivityError, ChildWorkflowError) as err:
                if self.inp.on_failure != "pause" or workflow.cancellation_reason() is not None:
                    raise
                # `on_failure: pause`: the operator chooses (workflows/steering.py); abort stays a DELETE.
                choice = await self.steering.park(host, root_message(err))
                if choice == Choice.SKIP:
                    record = self.detail.host(host)
                    record.skipped, record.phase = True, HostPhase.FAILED
                    self.log("host", f"{host} skipped after its failure: left disabled", host=host)
                    return
                # A retry moves only what is still on the host; instances moved before the failure stay put.
                plan = {iid: a for iid, a in plan.items()
                        if (r := self.detail.instance(iid)) is None or r.host == host}
        self.steering.host_maintained()

    async def _maintain(self, host: str, plan: dict[str, InstanceAction], owners: dict[str, str] | None,
                        rules: list[PlacementRule] | None) -> None:
        inp = self.inp
        maintained = [h.name for h in self.detail.hosts if h.maintained and not h.retired]
        pending = [h.name for h in self.detail.hosts if not h.maintained and h.name != host]
        result: HostMaintenanceResult = await workflow.execute_child_workflow(
            HostMaintenanceWorkflow.run,
            HostMaintenanceInput(
                session_id=inp.session_id, host=host, parent_workflow_id=workflow.info().workflow_id,
                disable_reason=self.disable_reason,
                plan=plan, owners=owners or {}, rules=rules or [], default_action=inp.default_action,
                own_action_timeout_s=inp.windows.own_action, move_retry=inp.move_retry,
                preferred_hosts=maintained,
                avoid_hosts=pending, session_metadata=inp.metadata, api_url=inp.api_url,
                admin_project_id=inp.admin_project_id, read_facts=workflow.patched(CAPABILITIES),
                actions=[a for a in inp.actions if a.type in (ActionType.HOST, ActionType.COMPUTE)],
                retire_reason=retired_reason(inp.session_id) if inp.retire else None),
            id=host_workflow_id(inp.session_id, host),
            # An abort reaches the host through the parent, and the parent waits for the host to
            # stop before it re-enables hosts, so nothing runs after the cleanup.
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
        if result.retired:
            host_retired(self.detail, self.outbox, inp, host)
            self.log("host", f"{host} emptied and retired: left disabled for good", host=host)
            self.upsert_hosts()
            return
        record = self.detail.host(host)
        record.maintained = True
        record.phase = HostPhase.MAINTAINED
        if result.enabled:
            record.disabled_by_session = False
        note_after(record, result.facts)
        self.log("host", f"{host} maintained and enabled", host=host)
        self.upsert_hosts()

    async def run_global_plugins(self, kind: ActionType) -> None:
        """The session's PRE or POST plug-ins, one after the other; a failed one fails the session."""
        for spec in (a for a in self.inp.actions if a.type == kind):
            raise_if_cancelled()
            self.current(f"running {kind.value} plug-in {spec.plugin}")
            try:
                res: PluginRunResult = await workflow.execute_activity(
                    "run_action_plugin", PluginRunRequest(session_id=self.inp.session_id, host=None, spec=spec,
                                                          session_metadata=self.inp.metadata),
                    result_type=PluginRunResult, **PLUGIN)
            except ActivityError as err:
                self.detail.plugin_runs.append(PluginRunRecord(plugin=spec.plugin, type=kind, host=None,
                                                               state="FAILED", output=root_message(err)))
                raise SessionFailed(f"{kind.value} plug-in {spec.plugin!r} failed: {root_message(err)}") from err
            self.detail.plugin_runs.append(PluginRunRecord(plugin=res.plugin, type=res.type, host=None,
                                                           state=res.state, output=res.output,
                                                           duration_s=res.duration_s))
            self.log("plugin", f"{res.plugin} ({kind.value}) {res.state} in {res.duration_s:.1f}s")


def root_message(err: BaseException) -> str:
    """The innermost failure message (activity/child errors wrap the real cause)."""
    while getattr(err, "cause", None) is not None:
        err = err.cause  # type: ignore[attr-defined]
    return getattr(err, "message", None) or str(err)
