"""The `default` maintenance session: Fenix's capacity-driven rolling flow, durable.

MAINTENANCE (tell every affected project, wait for ACKs, wait for `maintenance_at`) → SCALE_IN when no
host can be emptied → PREPARE_MAINTENANCE (first occupied host) / START_MAINTENANCE (empty hosts) /
PLANNED_MAINTENANCE (next occupied host, instances go to maintained hosts) ... → MAINTENANCE_COMPLETE →
MAINTENANCE_DONE, or MAINTENANCE_FAILED with a reason. Whatever ends the session (done, failure, NACK,
abort by cancellation), every host it disabled is enabled again before it returns.

The session owns the conversation with projects (notices, replies, deadlines, defaults); per-host
child workflows carry out the moves and the maintenance.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.constants import SA_HOSTS, SA_STATE, SESSION_WORKFLOW_TYPE, disable_reason, host_workflow_id
    from fenix.metrics import Figures
    from fenix.models.cloud import CloudSnapshot
    from fenix.models.cloud_ops import HostRequest, SnapshotRequest
    from fenix.models.gauges import HostGauges, HostWait, SessionGauges
    from fenix.models.host_run import HostMaintenanceInput, HostMaintenanceResult, HostProgress
    from fenix.models.notification import (
        EVENT_HOST,
        EVENT_PROJECT,
        BodyFormat,
        HostNotice,
        ProjectNotice,
        fenix_time,
        project_url,
    )
    from fenix.models.plugin import PluginRunRequest, PluginRunResult
    from fenix.models.reply import ProjectReply, ReplyResult
    from fenix.models.session import (
        DEFAULT_ALLOWED_ACTIONS,
        REPLY_STATES,
        ActionType,
        HistoryEntry,
        HostPhase,
        HostRecord,
        InstanceAction,
        InstanceRecord,
        PluginRunRecord,
        ProjectInstances,
        ProjectInstancesQuery,
        ProjectRecord,
        SessionDetail,
        SessionInput,
        SessionState,
        SessionStatus,
    )
    from fenix.planning.placement import capacity_shortfall, host_to_empty
    from workflows.cancel import raise_if_cancelled
    from workflows.clock import stable_now
    from workflows.errors import SessionFailed
    from workflows.host import HostMaintenanceWorkflow
    from workflows.host_plan import host_plan_s
    from workflows.options import CLEANUP, CLOUD_CALL, PLUGIN
    from workflows.outbox import Outbox, Outcome
    from workflows.owned_constraints import OwnedVnfFlow
    from workflows.patches import DEADLINE_FROM_DELIVERY, FAITHFUL_VNFM, SETTLE_AT_CLEANUP
    from workflows.settle import settle_moves
    from workflows.vnf import PER_INSTANCE

S = SessionState


class ReplyRejected(ApplicationError):
    """Raised by the reply validator; the API maps `type` to an HTTP status."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


@workflow.defn(name=SESSION_WORKFLOW_TYPE)
class MaintenanceSessionWorkflow:
    """One maintenance session.

    Update `reply` (validated; the API's PUT) and signal `reply_signal` (same shape, for VNFMs that talk
    to Temporal directly) carry project answers. Signal `host_progress` comes from host workflows.
    Queries: `detail`, `status`, `project_instances`.
    """

    @workflow.init
    def __init__(self, inp: SessionInput) -> None:
        self._inp = inp
        self._d = SessionDetail(session_id=inp.session_id, workflow=inp.workflow,
                                maintenance_at=inp.maintenance_at, metadata=inp.metadata)
        self._replies: dict[str, ProjectReply] = {}
        self._asks: dict[str, int] = {}  # project -> how many times it was asked
        # project -> (which asking, state) still open: closed by its reply or its default. Kept apart from the
        # project record, whose state the vnf flow also sets for per-instance notices.
        self._open: dict[str, tuple[int, str]] = {}
        # For the metrics only (reply latency, the census's `gauges` query); never read by a decision.
        self._asked_at: dict[str, datetime] = {}  # project -> when it was last asked
        self._disabled_at: dict[str, datetime] = {}  # host -> when this session disabled it
        self._plan_s: dict[str, float] = {}  # host -> how long the session planned it to stay disabled
        # Every reply taken, by (project, state answered, instance or ""): the same reply sent again (a VNFM that
        # retries because its PUT was cut after the API forwarded it) is answered as before, not with a 409.
        self._taken: dict[tuple[str, str, str], ProjectReply] = {}
        self._faithful = False  # set at the start of run (workflows/patches.py FAITHFUL_VNFM)
        self._outbox = Outbox(self._delivery_failed)
        # `"workflow": "vnf"`: the constraint-driven flow runs in this same workflow (one type for the API, the
        # host guard and the Web UI); it shares the project conversation, the cleanup and the host children.
        # It reads constraints only where the cloud agrees who owns the instance, and records what it ignored.
        self._vnf = OwnedVnfFlow(self) if inp.workflow == "vnf" else None

    # --- main flow --------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: SessionInput) -> SessionDetail:
        # Sessions started before FAITHFUL_VNFM keep the reply routing and pacing they started with.
        self._faithful = workflow.patched(FAITHFUL_VNFM)
        try:
            await self._flow()
            self._set_state(S.MAINTENANCE_DONE, "all hosts maintained")
        except asyncio.CancelledError:
            # DELETE of a running session cancels the workflow. It still may run activities here, and
            # returns normally so the session ends in a Fenix terminal state that clients understand.
            await self._abort()
        except SessionFailed as err:
            await self._fail(str(err))
        except (ActivityError, ChildWorkflowError) as err:
            # A cancel that lands while a host child (or an activity) runs comes back wrapped in its error;
            # the SDK's record of the cancel request says whether this failure is really the admin's abort.
            if workflow.cancellation_reason() is not None:
                await self._abort()
            else:
                await self._fail(_root_message(err))
        await workflow.wait_condition(workflow.all_handlers_finished)
        Figures(workflow.metric_meter()).session_ended(
            inp.workflow, self._d.state.value, self._d.aborted,
            (workflow.now() - workflow.info().start_time).total_seconds())
        return self._d

    async def _start(self) -> tuple[CloudSnapshot, list[str]]:
        """The first look at the cloud: the session's hosts (all of them, enabled) and their instances."""
        inp = self._inp
        snap = await self._snapshot(inp.hosts)
        targets = sorted(inp.hosts) if inp.hosts else sorted(h.name for h in snap.hosts)
        if not targets:
            raise SessionFailed("the cloud has no compute hosts")
        already = [h for h in snap.hosts if h.name in targets and not h.enabled]
        if already:
            raise SessionFailed("host(s) already disabled before the session, not taken over: " + ", ".join(
                f"{h.name} ({h.disabled_reason or 'no reason given'})" for h in already))
        self._d.hosts = [HostRecord(name=h) for h in targets]
        self._track_instances(snap)
        self._log("info", f"session over {len(targets)} host(s), {len(self._d.instances)} instance(s) of "
                          f"{len(self._d.projects)} project(s)")
        return snap, targets

    async def _flow(self) -> None:
        if self._vnf is not None:
            await self._vnf.run()
            return
        inp = self._inp
        await self._start()

        self._set_state(S.MAINTENANCE, "telling projects about the planned maintenance")
        await self._ask(S.MAINTENANCE, [p.project_id for p in self._d.projects], inp.windows.maintenance,
                        actions_at=inp.maintenance_at)
        wait = (inp.maintenance_at - await stable_now()).total_seconds()
        if wait > 0:
            self._current(f"waiting for the maintenance window at {fenix_time(inp.maintenance_at)} UTC")
            await workflow.sleep(wait)
        await self._run_global_plugins(ActionType.PRE)

        scale_in_rounds = 0
        while True:
            raise_if_cancelled()
            snap = await self._snapshot([])
            self._track_instances(snap)
            pending = [h.name for h in self._d.hosts if not h.maintained]
            if not pending:
                break
            empty = [h for h in pending if not snap.servers_on(h)]
            if empty:
                self._set_state(S.START_MAINTENANCE, f"maintaining empty host(s) {', '.join(empty)}")
                for host in empty:
                    await self._maintain(host, {})
                continue
            maintained = {h.name for h in self._d.hosts if h.maintained}
            candidate = host_to_empty(snap, pending, maintained)
            if candidate is None:
                vcpus, ram = capacity_shortfall(snap, pending)
                if scale_in_rounds >= inp.max_scale_in_rounds:
                    raise SessionFailed(f"not enough capacity to empty any host after {scale_in_rounds} "
                                        f"SCALE_IN round(s): short of {vcpus} vCPU / {ram} MB RAM")
                scale_in_rounds += 1
                self._set_state(S.SCALE_IN, f"asking projects to scale in (short of {vcpus} vCPU / "
                                             f"{ram} MB RAM), round {scale_in_rounds}")
                await self._ask(S.SCALE_IN, self._project_ids(with_instances=True), inp.windows.scale_in,
                                metadata={"vcpus_needed": vcpus, "memory_mb_needed": ram})
                continue
            state = S.PLANNED_MAINTENANCE if maintained else S.PREPARE_MAINTENANCE
            await self._evacuate_and_maintain(state, candidate, snap)

        raise_if_cancelled()
        await self._run_global_plugins(ActionType.POST)
        self._set_state(S.MAINTENANCE_COMPLETE, "maintenance complete: projects may scale back out")
        await self._ask(S.MAINTENANCE_COMPLETE, self._project_ids(), inp.windows.complete,
                        nack_fails=False)
        await self._outbox.drain(self._drain_limit)

    async def _evacuate_and_maintain(self, state: SessionState, host: str, snap: CloudSnapshot) -> None:
        """Disable the host, ask the owners of its instances, then hand the plan to a host workflow."""
        await self._disable(host)
        self._set_state(state, f"emptying {host}")
        on_host = {s.id: s for s in snap.servers_on(host)}
        owners: dict[str, list[str]] = {}
        for sid, server in sorted(on_host.items()):
            owners.setdefault(server.project_id, []).append(sid)
        await self._ask(state, sorted(owners), self._inp.windows.prepare, instances=owners,
                        allowed=list(DEFAULT_ALLOWED_ACTIONS))
        plan: dict[str, InstanceAction] = {}
        for project, ids in owners.items():
            reply = self._replies.get(project)
            for iid in ids:
                chosen = None
                if reply is not None:
                    chosen = reply.instance_actions.get(iid) or reply.instance_action
                action = chosen or self._inp.default_action
                plan[iid] = action
                record = self._d.instance(iid)
                if record is not None:
                    record.action, record.action_source = action, "reply" if chosen else "default"
        await self._maintain(host, plan, owners={i: s.project_id for i, s in on_host.items()})

    async def _maintain(self, host: str, plan: dict[str, InstanceAction],
                        owners: dict[str, str] | None = None) -> None:
        raise_if_cancelled()
        await self._disable(host)
        maintained = [h.name for h in self._d.hosts if h.maintained]
        pending = [h.name for h in self._d.hosts if not h.maintained and h.name != host]
        result: HostMaintenanceResult = await workflow.execute_child_workflow(
            HostMaintenanceWorkflow.run,
            HostMaintenanceInput(
                session_id=self._inp.session_id, host=host, parent_workflow_id=workflow.info().workflow_id,
                disable_reason=self._disable_reason,
                plan=plan, owners=owners or {}, default_action=self._inp.default_action,
                own_action_timeout_s=self._inp.windows.own_action, move_retry=self._inp.move_retry,
                preferred_hosts=maintained,
                avoid_hosts=pending, session_metadata=self._inp.metadata, api_url=self._inp.api_url,
                admin_project_id=self._inp.admin_project_id,
                actions=[a for a in self._inp.actions if a.type in (ActionType.HOST, ActionType.COMPUTE)]),
            id=host_workflow_id(self._inp.session_id, host),
            # An abort reaches the host through the parent, and the parent waits for the host to
            # stop before it re-enables hosts, so nothing runs after the cleanup.
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
        record = self._d.host(host)
        record.maintained = True
        record.phase = HostPhase.MAINTAINED
        if result.enabled:
            record.disabled_by_session = False
        self._log("host", f"{host} maintained and enabled", host=host)
        self._upsert_hosts()

    # --- asking projects -----------------------------------------------------------------------------
    async def _ask(self, state: SessionState, projects: list[str], window_s: float, *,
                   instances: dict[str, list[str]] | None = None, allowed: list[InstanceAction] | None = None,
                   actions_at: datetime | None = None, metadata: dict[str, object] | None = None,
                   nack_fails: bool = True) -> None:
        """Notify `projects` of `state` and wait for their ACK/NACK until the deadline.

        The project is marked as awaiting *before* the notice is sent: a VNFM that replies from inside
        the webhook request (Doctor's does) must find its reply accepted while the POST is still open.
        A project with no subscription, or whose delivery failed, gets the default at once; one that does
        not answer in time gets it at the deadline. The deadline is `window_s` after the notice *reached* the
        project (a delivery held back by a dead worker or endpoint does not eat the project's time), and the
        notice's `reply_at` says so. Defaults: proceed, and the session's default action for each instance.
        """
        if not projects:
            return
        from_delivery = workflow.patched(DEADLINE_FROM_DELIVERY)
        deadline = workflow.now() + timedelta(seconds=window_s)
        for pid in projects:
            self._replies.pop(pid, None)
            self._asked_at[pid] = workflow.now()
            self._asks[pid] = self._asks.get(pid, 0) + 1
            self._open[pid] = (self._asks[pid], state.value)
            p = self._d.project(pid)
            p.state, p.awaiting, p.reply_at = state.value, True, deadline
            p.asked_instances = list((instances or {}).get(pid, []))
            p.allowed_actions = list(allowed or [])
        watchers = []
        for pid in projects:
            p = self._d.project(pid)
            url = project_url(self._inp.api_url, self._inp.session_id, pid)
            notice = ProjectNotice(
                project_id=pid, session_id=self._inp.session_id, state=state.value, instance_ids=url,
                allowed_actions=[a.value for a in p.allowed_actions],
                actions_at=fenix_time(actions_at or deadline), reply_at=fenix_time(deadline), reply_url=url,
                metadata={**self._inp.metadata, **(metadata or {})})
            self._log("notice", f"{state.value} sent", project_id=pid, state=state.value)
            runs_from_delivery = {"reply_at": window_s, **({} if actions_at else {"actions_at": window_s})}
            task = self._outbox.send(EVENT_PROJECT, pid, notice.model_dump(),
                                     from_delivery=runs_from_delivery if from_delivery else None)
            watchers.append(asyncio.create_task(
                self._watch_delivery(pid, state, task, window_s if from_delivery else None, self._asks[pid])))
        self._current(f"{state.value}: waiting for {len(projects)} project(s) until {fenix_time(deadline)} UTC"
                      + (" (or their window after a late delivery)" if from_delivery else ""))
        if from_delivery:
            # Each watcher applies its project's default at that project's own deadline.
            asks = {pid: self._open[pid] for pid in projects}
            await workflow.wait_condition(lambda: not any(self._open.get(p) == asks[p] for p in projects))
        else:
            try:
                await workflow.wait_condition(lambda: not any(self._d.project(p).awaiting for p in projects),
                                              timeout=timedelta(seconds=window_s))
            except TimeoutError:
                for pid in projects:
                    p = self._d.project(pid)
                    if p.awaiting and p.state == state.value:
                        self._default(pid, state, "no reply to {state} by the deadline: default applied", "timeout")
        for pid in projects:
            reply = self._replies.get(pid)
            if reply is not None and not reply.ack and nack_fails:
                raise SessionFailed(f"project {pid} answered {reply.state}")
        del watchers  # they end by themselves once their delivery does

    async def _watch_delivery(self, pid: str, state: SessionState, task: asyncio.Task[Outcome],
                              window_s: float | None, ask: int) -> None:
        """Once the notice is delivered: the default at once if nobody got it, else (with `window_s`) at the end
        of the window counted from the delivery. `ask`: which asking of the project this notice was.

        A notice that cannot be delivered within its window (plus `delivery_grace_s`, for a worker that died mid-POST)
        is given up: the endpoint keeps failing, and the session must not wait out half an hour of retries."""
        if window_s is not None and self._faithful:
            try:
                await workflow.wait_condition(task.done, timeout=window_s + self._inp.delivery_grace_s)
            except TimeoutError:
                task.cancel()
                if self._open.get(pid) == (ask, state.value):
                    self._default(pid, state, "notice not delivered within its reply window (the endpoint keeps "
                                              "failing): default applied for {state}", "undelivered")
                return
        outcome = await task
        p = self._d.project(pid)
        p.subscribed = outcome.subscribers > 0
        if BodyFormat.AODH in outcome.formats and self._vnf is not None:
            self._vnf.replies_name_no_instance(pid)

        def still_asked() -> bool:
            if window_s is None:
                return p.awaiting and p.state == state.value
            return self._open.get(pid) == (ask, state.value)

        if outcome.delivered == 0 and still_asked():
            why = "no subscription" if outcome.subscribers == 0 else "notice could not be delivered"
            cause = "no_subscriber" if outcome.subscribers == 0 else "undelivered"
            self._default(pid, state, f"{why}: default applied for {{state}}", cause)
            return
        if window_s is None or outcome.delivered_at is None or not still_asked():
            return
        deadline = outcome.delivered_at + timedelta(seconds=window_s)
        p.reply_at = deadline
        try:
            # Always a timer (never skipped for a deadline already past), so the commands do not depend on time.
            await workflow.wait_condition(lambda: not still_asked(),
                                          timeout=max(0.001, (deadline - workflow.now()).total_seconds()))
        except TimeoutError:
            if still_asked():
                self._default(pid, state, "no reply to {state} by the deadline: default applied", "timeout")

    def _default(self, pid: str, state: SessionState, why: str, cause: str) -> None:
        """Apply the default to `pid`'s open question; `cause` (timeout, no_subscriber, undelivered) for the
        metrics."""
        Figures(workflow.metric_meter()).reply(state.value, f"default_{cause}")
        p = self._d.project(pid)
        if p.state == state.value:
            p.awaiting = False
        if self._open.get(pid, (0, ""))[1] == state.value:
            del self._open[pid]
        self._log("default", why.format(state=state.value), project_id=pid, state=state.value)

    # --- project replies -------------------------------------------------------------------------------
    # An update, not only a signal: the API must answer a stale or malformed reply with a 4xx, and the
    # validator rejects it before anything is written to the history.
    @workflow.update
    def reply(self, reply: ProjectReply) -> ReplyResult:
        if self._taken_before(reply):
            return ReplyResult(accepted=True, state=reply.state, detail="the same reply was taken before")
        self._accept(reply)
        return ReplyResult(accepted=True, state=reply.state)

    @reply.validator
    def _validate_reply(self, reply: ProjectReply) -> None:
        self._check(reply)

    @workflow.signal
    def reply_signal(self, reply: ProjectReply) -> None:
        """The same reply for VNFMs that talk to Temporal directly; an invalid one is only logged."""
        try:
            self._check(reply)
        except ReplyRejected as err:
            self._log("reply", f"rejected signal reply {reply.state}: {err.message}", project_id=reply.project_id)
            return
        if not self._taken_before(reply):
            self._accept(reply)

    def _check(self, reply: ProjectReply) -> None:
        # First: a reply that reaches the workflow after the API's deadline (no worker took it in time, the client
        # got 503) is refused, never applied behind the client's back. Type as workflows/deadline.py (API: 503).
        if reply.not_after is not None and workflow.now() > reply.not_after:
            raise ReplyRejected(f"reply {reply.state} arrived after its deadline {reply.not_after.isoformat()} "
                                "and was not applied", "DeadlinePassed")
        p = next((p for p in self._d.projects if p.project_id == reply.project_id), None)
        if p is None:
            raise ReplyRejected(f"project {reply.project_id!r} has no instances in this session", "UnknownProject")
        prefix, _, asked = reply.state.partition("_")
        if prefix not in ("ACK", "NACK") or asked not in {s.value for s in REPLY_STATES}:
            known = ", ".join(sorted(s.value for s in REPLY_STATES))
            raise ReplyRejected(f"state must be ACK_<STATE> or NACK_<STATE> of {known}, not {reply.state!r}",
                                "InvalidReply")
        if self._taken_before(reply):
            return
        per_instance = self._vnf is not None and asked in {s.value for s in PER_INSTANCE}
        if self._faithful:
            # What is asked: the project's open question (MAINTENANCE, SCALE_IN, ...) and, in the vnf flow, each
            # instance's own; neither may hide the other (a SCALE_IN asked while an instance waits for its ACK).
            open_ask = self._open.get(reply.project_id)
            if not per_instance and (open_ask is None or open_ask[1] != asked):
                now = f"the session is waiting for your reply to {open_ask[1]}" if open_ask else \
                    "the session is not waiting for a reply from you"
                raise ReplyRejected(f"stale reply {reply.state}: {now}", "StaleReply")
        elif not p.awaiting or p.state != asked:
            now = f"the session is waiting for your reply to {p.state}" if p.awaiting else \
                "the session is not waiting for a reply from you"
            raise ReplyRejected(f"stale reply {reply.state}: {now}", "StaleReply")
        if per_instance and self._vnf is not None:
            problem = self._vnf.check(reply, asked)
            if problem is not None:
                raise ReplyRejected(f"{reply.state}: {problem[1]}", problem[0])
            return
        actions = dict(reply.instance_actions)
        unknown = sorted(set(actions) - set(p.asked_instances))
        if unknown:
            raise ReplyRejected(f"instance(s) {', '.join(unknown)} not among those asked about: "
                                f"{', '.join(p.asked_instances) or 'none'}", "InvalidReply")
        chosen = set(actions.values()) | ({reply.instance_action} if reply.instance_action else set())
        bad = sorted(a.value for a in chosen if a not in p.allowed_actions)
        if bad:
            allowed = ", ".join(a.value for a in p.allowed_actions) or "none"
            raise ReplyRejected(f"action(s) {', '.join(bad)} not allowed in {asked} (allowed: {allowed})",
                                "InvalidReply")

    def _reply_keys(self, reply: ProjectReply) -> list[tuple[str, str, str]]:
        """What a reply answers: (project, state, instance) per instance it names, or (project, state, "")."""
        asked, pid = reply.replied_state, reply.project_id
        if self._vnf is not None and asked in {s.value for s in PER_INSTANCE}:
            named = sorted(reply.instance_actions) or (list(reply.instance_ids)
                                                      if isinstance(reply.instance_ids, list) else [])
            return [(pid, asked, iid) for iid in named] or [(pid, asked, "")]
        return [(pid, asked, "")]

    def _taken_before(self, reply: ProjectReply) -> bool:
        """This very reply (same state and actions, for the same instances) was taken already and nothing of what
        it answers is being asked again: a retry, to be answered as the first time and applied only once."""
        keys = self._reply_keys(reply)
        for pid, asked, iid in keys:
            taken = self._taken.get((pid, asked, iid))
            if taken is None or (taken.state, taken.instance_actions, taken.instance_action) != (
                    reply.state, reply.instance_actions, reply.instance_action):
                return False
        p = next((p for p in self._d.projects if p.project_id == reply.project_id), None)
        if p is not None and p.awaiting and p.state == reply.replied_state and (
                keys[0][2] == "" or any(iid in p.asked_instances for _, _, iid in keys)):
            return False  # asked again since: this is a new answer, not a retry
        return True

    def _accept(self, reply: ProjectReply) -> None:
        keys = self._reply_keys(reply)
        if keys[0][2] == "" and self._vnf is not None and reply.replied_state in {s.value for s in PER_INSTANCE}:
            keys += [(reply.project_id, reply.replied_state, iid) for iid in self._vnf.reply_targets(reply)]
        self._taken.update(dict.fromkeys(keys, reply))
        self._count_reply(reply, [iid for _, _, iid in keys if iid])
        if self._vnf is not None and reply.replied_state in {s.value for s in PER_INSTANCE}:
            self._log("reply", reply.state + (f" instance_action={reply.instance_action.value}"
                                              if reply.instance_action else ""), project_id=reply.project_id,
                      state=reply.state)
            self._vnf.accept(reply)
            return
        p = self._d.project(reply.project_id)
        p.awaiting, p.state = False, reply.state
        self._replies[reply.project_id] = reply
        if self._open.get(reply.project_id, (0, ""))[1] == reply.replied_state:
            del self._open[reply.project_id]
        actions = {k: v.value for k, v in reply.instance_actions.items()}
        detail = reply.state + (f" {actions}" if actions else "") + \
            (f" instance_action={reply.instance_action.value}" if reply.instance_action else "")
        self._log("reply", detail, project_id=reply.project_id, state=reply.state)

    def _count_reply(self, reply: ProjectReply, instances: list[str]) -> None:
        """The reply's figures: its outcome, and how long the project took since it was asked (per-instance
        replies: since the earliest of the instances answered was warned)."""
        figures = Figures(workflow.metric_meter())
        figures.reply(reply.replied_state, "ack" if reply.ack else "nack")
        if instances:
            warned = [r.notified_at for i in instances if (r := self._d.instance(i)) is not None and r.notified_at]
            asked = min(warned) if warned else None
        else:
            asked = self._asked_at.get(reply.project_id)
        if asked is not None:
            figures.reply_latency(reply.replied_state, reply.project_id, (workflow.now() - asked).total_seconds())

    @workflow.signal
    def host_progress(self, progress: HostProgress) -> None:
        record = next((h for h in self._d.hosts if h.name == progress.host), None)
        if record is None:
            return
        if progress.phase is not None:
            record.phase = progress.phase
            if progress.phase == HostPhase.IN_MAINTENANCE:
                self._set_state(S.START_MAINTENANCE, f"{progress.host} in maintenance")
            elif progress.phase == HostPhase.MAINTAINED:
                record.disabled_by_session = False
                self._upsert_hosts()
        if progress.instance is not None:
            o = progress.instance
            inst = self._d.instance(o.instance_id)
            if inst is not None:
                inst.action, inst.action_done, inst.error = o.action, o.done, o.error
                inst.host = o.host if o.done else inst.host
            verb = "done" if o.done else "failed"
            extra = f" ({o.fallback})" if o.fallback else ""
            self._log("action", f"{o.action.value} of {o.instance_id} {verb}"
                                f"{' to ' + str(o.host) if o.done and o.host else ''}{extra}"
                                f"{': ' + o.error if o.error else ''}", project_id=o.project_id, host=o.host)
        if progress.plugin_run is not None:
            self._d.plugin_runs.append(progress.plugin_run)
            r = progress.plugin_run
            self._log("plugin", f"{r.plugin} ({r.type.value}) {r.state} in {r.duration_s:.1f}s", host=r.host)
        if progress.note:
            self._log("error", progress.note, host=progress.host)
        if progress.notice is not None:
            n = progress.notice
            self._outbox.send(n.event_type, n.project_id, n.payload, informational=True)

    # --- queries ----------------------------------------------------------------------------------------
    @workflow.query
    def detail(self) -> SessionDetail:
        return self._d

    @workflow.query
    def status(self) -> SessionStatus:
        return SessionStatus(session_id=self._d.session_id, state=self._d.state, reason=self._d.reason,
                             current=self._d.current, hosts_total=len(self._d.hosts),
                             hosts_maintained=sum(h.maintained for h in self._d.hosts))

    @workflow.query
    def gauges(self) -> SessionGauges:
        """What the metrics census reads (fenix/census.py): state, hosts, waits and deadlines, without the history."""
        d = self._d
        until = [p.reply_at for p in d.projects if p.awaiting and p.reply_at is not None]
        until += [i.actions_at for i in d.instances if i.actions_at is not None and not i.action_done]
        if d.state == S.MAINTENANCE:
            until.append(d.maintenance_at)
        hosts = []
        for h in d.hosts:
            disabled = h.disabled_by_session and h.name in self._disabled_at
            hosts.append(HostGauges(host=h.name, phase=h.phase,
                                    disabled_at=self._disabled_at[h.name] if disabled else None,
                                    plan_s=self._plan_s.get(h.name) if disabled else None,
                                    waits=self._waits(h.name)))
        return SessionGauges(session_id=d.session_id, workflow=d.workflow, state=d.state,
                             last_progress_at=d.history[-1].at if d.history else workflow.info().start_time,
                             waiting_until=max(until) if until else None, hosts=hosts)

    def _waits(self, host: str) -> list[HostWait]:
        """What the host waits for: the vnf flow's own account; in the default flow, the replies of the projects
        asked about its instances."""
        if self._vnf is not None:
            return self._vnf.waits.get(host, [])
        return [HostWait(reason="reply", project_id=p.project_id, since=self._asked_at[p.project_id])
                for p in self._d.projects
                if p.awaiting and p.project_id in self._asked_at and any(
                    (i := self._d.instance(iid)) is not None and i.host == host for iid in p.asked_instances)]

    @workflow.query
    def project_instances(self, q: ProjectInstancesQuery) -> ProjectInstances:
        """Fenix's `GET /v1/maintenance/{session}/{project}`: the instances asked about now, else all."""
        p = next((p for p in self._d.projects if p.project_id == q.project_id), None)
        if p is None:
            return ProjectInstances(instance_ids=[], known=False)
        if p.awaiting and p.asked_instances:
            return ProjectInstances(instance_ids=list(p.asked_instances))
        return ProjectInstances(instance_ids=[i.instance_id for i in self._d.instances
                                              if i.project_id == q.project_id])

    # --- helpers ----------------------------------------------------------------------------------------
    @property
    def _drain_limit(self) -> timedelta | None:
        """How long the end waits for notices still being retried (None, before FAITHFUL_VNFM: until they end)."""
        return timedelta(seconds=self._inp.drain_limit_s) if self._faithful else None

    async def _snapshot(self, hosts: list[str]) -> CloudSnapshot:
        return await workflow.execute_activity_method(CloudActivities.snapshot, SnapshotRequest(hosts=hosts),
                                                      **CLOUD_CALL)

    def _track_instances(self, snap: CloudSnapshot) -> None:
        """Refresh the instances on session hosts; projects are added as they appear, never dropped."""
        targets = {h.name for h in self._d.hosts}
        previous = {i.instance_id: i for i in self._d.instances}
        current: list[InstanceRecord] = []
        for server in snap.servers:
            if server.host not in targets and server.id not in previous:
                continue
            record = previous.get(server.id) or InstanceRecord(
                instance_id=server.id, name=server.name, project_id=server.project_id, host=server.host,
                original_host=server.host)
            record.host = server.host
            current.append(record)
            if all(p.project_id != server.project_id for p in self._d.projects):
                self._d.projects.append(ProjectRecord(project_id=server.project_id))
        seen = {r.instance_id for r in current}
        # Gone, but acted on by the session (evicted, re-created by its owner): the record stays, without a host.
        current += [r.model_copy(update={"host": None}) for iid, r in previous.items()
                    if iid not in seen and r.action is not None and r.action_done]
        self._d.instances = sorted(current, key=lambda i: (i.project_id, i.name, i.instance_id))
        self._d.projects.sort(key=lambda p: p.project_id)

    def _project_ids(self, *, with_instances: bool = False) -> list[str]:
        """Projects of the session; those that scaled in to nothing still hear MAINTENANCE_COMPLETE."""
        live = {i.project_id for i in self._d.instances}
        return [p.project_id for p in self._d.projects if not with_instances or p.project_id in live]

    async def _disable(self, host: str, plan_s: float | None = None) -> None:
        """Disable `host` for the session. `plan_s`: how long it should stay so at most (workflows/host_plan.py;
        default: from the session's windows and the instances on it now), for the metrics."""
        record = self._d.host(host)
        if record.disabled_by_session or record.maintained:
            return
        # Marked before the call: an abort can land while the disable is in flight and still happen in the
        # cloud. The cleanup then enables the host only if it carries this session's reason.
        record.disabled_by_session = True
        self._disabled_at[host] = workflow.now()
        self._plan_s[host] = plan_s if plan_s is not None else host_plan_s(
            self._inp, sum(1 for i in self._d.instances if i.host == host))
        await workflow.execute_activity_method(
            CloudActivities.disable_host, HostRequest(host=host, reason=self._disable_reason), **CLOUD_CALL)
        record.phase = HostPhase.DISABLED
        self._log("host", f"{host} disabled", host=host)
        self._upsert_hosts()

    async def _run_global_plugins(self, kind: ActionType) -> None:
        for spec in (a for a in self._inp.actions if a.type == kind):
            raise_if_cancelled()
            self._current(f"running {kind.value} plug-in {spec.plugin}")
            try:
                res: PluginRunResult = await workflow.execute_activity(
                    "run_action_plugin", PluginRunRequest(session_id=self._inp.session_id, host=None, spec=spec,
                                                          session_metadata=self._inp.metadata),
                    result_type=PluginRunResult, **PLUGIN)
            except ActivityError as err:
                self._d.plugin_runs.append(PluginRunRecord(plugin=spec.plugin, type=kind, host=None,
                                                           state="FAILED", output=_root_message(err)))
                raise SessionFailed(f"{kind.value} plug-in {spec.plugin!r} failed: {_root_message(err)}") from err
            self._d.plugin_runs.append(PluginRunRecord(plugin=res.plugin, type=res.type, host=None,
                                                       state=res.state, output=res.output,
                                                       duration_s=res.duration_s))
            self._log("plugin", f"{res.plugin} ({kind.value}) {res.state} in {res.duration_s:.1f}s")

    @property
    def _disable_reason(self) -> str:
        return disable_reason(self._inp.session_id)

    async def _abort(self) -> None:
        self._d.aborted = True
        await self._fail("aborted by the admin")

    async def _fail(self, reason: str) -> None:
        """End in MAINTENANCE_FAILED: re-enable what the session disabled, tell projects and infra."""
        self._d.reason = reason
        self._set_state(S.MAINTENANCE_FAILED, f"failed: {reason}")
        # No instance stays unconfirmed or half-moved behind a session that has ended (docs/architecture.md#abort).
        if workflow.patched(SETTLE_AT_CLEANUP):
            self._current(f"failed: {reason}; settling the instances' moves")
            settled = await settle_moves([i.instance_id for i in self._d.instances])
            if settled.summary():
                self._log("cleanup", settled.summary())
        for record in self._d.hosts:
            if record.disabled_by_session:
                self._current(f"failed: {reason}; re-enabling {record.name}")
                await workflow.execute_activity_method(
                    CloudActivities.enable_host, HostRequest(host=record.name, reason=self._disable_reason),
                    **CLEANUP)
                if record.phase == HostPhase.IN_MAINTENANCE:
                    host_notice = HostNotice(project_id=self._inp.admin_project_id, host=record.name,
                                             state="MAINTENANCE_COMPLETE", session_id=self._inp.session_id)
                    self._outbox.send(EVENT_HOST, None, host_notice.model_dump())
                record.disabled_by_session = False
                record.phase = HostPhase.FAILED if not record.maintained else record.phase
                self._log("host", f"{record.name} enabled again (session ended)", host=record.name)
        self._upsert_hosts()
        # Projects may have scaled in: MAINTENANCE_COMPLETE tells them they may scale back out; the
        # metadata says why (Fenix-era VNFMs know no other end state). No reply is awaited.
        for pid in self._project_ids():
            url = project_url(self._inp.api_url, self._inp.session_id, pid)
            done = ProjectNotice(project_id=pid, session_id=self._inp.session_id,
                                 state=S.MAINTENANCE_COMPLETE.value, instance_ids=url, reply_url=url,
                                 metadata={**self._inp.metadata, "session_result": S.MAINTENANCE_FAILED.value,
                                           "reason": reason})
            self._outbox.send(EVENT_PROJECT, pid, done.model_dump())
        await self._outbox.drain(self._drain_limit)

    def _set_state(self, state: SessionState, current: str) -> None:
        if state != self._d.state or not any(h.kind == "state" for h in self._d.history):
            self._log("state", state.value, state=state.value)
            Figures(workflow.metric_meter()).session_transition(self._d.workflow, state.value)
        self._d.state = state
        workflow.upsert_search_attributes([SA_STATE.value_set(state.value)])
        self._current(current)

    def _current(self, text: str) -> None:
        self._d.current = text
        done = sum(h.maintained for h in self._d.hosts)
        # Markdown shown in the Web UI's "current details".
        workflow.set_current_details(f"**{self._d.state.value}** — {text}\n\nhosts maintained: "
                                     f"{done}/{len(self._d.hosts)}")

    def _upsert_hosts(self) -> None:
        out = sorted(h.name for h in self._d.hosts if h.disabled_by_session)
        workflow.upsert_search_attributes([SA_HOSTS.value_set(out)])

    def _log(self, kind: str, detail: str, *, project_id: str | None = None, host: str | None = None,
             state: str | None = None) -> None:
        self._d.history.append(HistoryEntry(at=workflow.now(), kind=kind, detail=detail, project_id=project_id,
                                            host=host, state=state))
        # The same entry in the worker's log, as fields (fenix/logs.py adds the session and workflow ids).
        # workflow.logger is silent while a history replays, so each entry is logged once.
        fields = {"entry_kind": kind, "project_id": project_id, "host": host, "state": state}
        workflow.logger.log(logging.WARNING if kind == "error" else logging.INFO, "%s: %s", kind, detail,
                            extra={k: v for k, v in fields.items() if v is not None})

    def _delivery_failed(self, message: str, project_id: str | None) -> None:
        self._log("error", message, project_id=project_id)


def _root_message(err: BaseException) -> str:
    """The innermost failure message (activity/child errors wrap the real cause)."""
    while getattr(err, "cause", None) is not None:
        err = err.cause  # type: ignore[attr-defined]
    return getattr(err, "message", None) or str(err)
