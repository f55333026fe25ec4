"""The maintenance session workflow: the shell around a flow.

A session runs one flow (`"workflow": "default"`, workflows/default_flow.py, or `"vnf"`, workflows/vnf.py) with a
`SessionContext` (workflows/context.py), the flow's only way to the session. Around it, the session keeps what both
flows share: the messages (the reply Update and signal go through the one conversation, workflows/conversation.py;
`host_progress` from the host children), the queries, and the end: MAINTENANCE_DONE, or MAINTENANCE_FAILED with a
reason. Whatever ends the session (done, failure, NACK, abort by cancellation), every host it disabled is enabled
again before it returns.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from fenix.constants import SESSION_WORKFLOW_TYPE
    from fenix.metrics import Figures
    from fenix.models.audit import ActionRecord
    from fenix.models.cloud_ops import HostRequest
    from fenix.models.gauges import HostGauges, SessionGauges
    from fenix.models.host_run import HostProgress
    from fenix.models.hosts import HostState, SessionHosts
    from fenix.models.notification import EVENT_HOST, EVENT_PROJECT, HostNotice, ProjectNotice, project_url
    from fenix.models.reply import ProjectReply, ReplyResult
    from fenix.models.reply_batch import ProjectReplies, ReplyOutcome, ReplyOutcomes
    from fenix.models.session import (
        HostPhase,
        ProjectInstances,
        ProjectInstancesQuery,
        SessionDetail,
        SessionInput,
        SessionState,
        SessionStatus,
    )
    from fenix.models.session_pages import summarize
    from workflows.audit import audit_entry
    from workflows.context import SessionContext, root_message
    from workflows.conversation import API_ERROR_TYPE, Conversation
    from workflows.default_flow import DefaultFlow
    from workflows.errors import SessionFailed
    from workflows.flow import Flow
    from workflows.host_events import host_events_on, send_host_event, send_hosts_event, session_hosts
    from workflows.options import CLEANUP
    from workflows.owned_constraints import OwnedVnfFlow
    from workflows.patches import FAITHFUL_VNFM, SETTLE_AT_CLEANUP
    from workflows.retire import host_retired, retired_in_cloud
    from workflows.session_reads import SessionReads
    from workflows.settle import settle_moves
    from workflows.steering_handlers import SessionSteering


@workflow.defn(name=SESSION_WORKFLOW_TYPE)
class MaintenanceSessionWorkflow(SessionSteering, SessionReads):
    """One maintenance session.

    Updates `reply` (validated; the API's PUT) and `replies` (a batch of them), and signal `reply_signal` (same
    shape, for VNFMs that talk to Temporal directly) carry project answers. Signal `host_progress` comes from host
    workflows, signal `record_action` from the API (who aborted, paused, ...). Queries: `detail`, `status`,
    `project_instances`, `gauges`, `hosts`, and the bounded reads of workflows/session_reads.py.
    """

    @workflow.init
    def __init__(self, inp: SessionInput) -> None:
        # What the flow may use of the session; nothing here issues a command.
        self._ctx = SessionContext(inp)
        # `"workflow": "vnf"`: the constraint-driven flow runs in this same workflow (one type for the API, the
        # host guard and the Web UI); it shares the project conversation, the cleanup and the host children.
        # It reads constraints only where the cloud agrees who owns the instance, and records what it ignored.
        self._flow: Flow = OwnedVnfFlow(self._ctx) if inp.workflow == "vnf" else DefaultFlow(self._ctx)
        self._conversation = Conversation(self._ctx, self._flow.instance_questions)
        self._ctx.attach(self._conversation)

    @property
    def _detail(self) -> SessionDetail:
        return self._ctx.detail

    # --- main flow --------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: SessionInput) -> SessionDetail:
        # Sessions started before FAITHFUL_VNFM keep the reply routing and pacing they started with.
        self._ctx.faithful = workflow.patched(FAITHFUL_VNFM)
        try:
            await self._flow.body()
            self._ctx.set_state(SessionState.MAINTENANCE_DONE, "all hosts maintained")
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
                await self._fail(root_message(err))
        await workflow.wait_condition(workflow.all_handlers_finished)
        Figures(workflow.metric_meter()).session_ended(
            inp.workflow, self._detail.state.value, self._detail.aborted,
            (workflow.now() - workflow.info().start_time).total_seconds())
        # Bounded: a whole detail past ~2,000 instances exceeds the 2 MB a result may be (the paged queries still
        # answer the rest, on a worker replaying the history). Old results, whole, decode as the same model.
        return summarize(self._detail)

    # --- project replies -------------------------------------------------------------------------------
    # An update, not only a signal: the API must answer a stale or malformed reply with a 4xx, and the
    # validator rejects it before anything is written to the history.
    @workflow.update
    def reply(self, reply: ProjectReply) -> ReplyResult:
        return self._take(reply)

    def _take(self, reply: ProjectReply) -> ReplyResult:
        if self._conversation.taken_before(reply):
            return ReplyResult(accepted=True, state=reply.state, detail="the same reply was taken before")
        self._conversation.accept(reply)
        return ReplyResult(accepted=True, state=reply.state)

    # A burst of replies as one Update (the API's group commit, api/reply_batch.py): Temporal admits only ~10
    # Updates in flight per workflow, so one per reply refused most of a burst. Each reply is checked and taken in
    # order, as if sent alone; a refused one is answered in its outcome, never by refusing its batch.
    @workflow.update
    def replies(self, batch: ProjectReplies) -> ReplyOutcomes:
        outcomes = []
        for reply in batch.replies:
            rejection = self._conversation.check(reply)
            outcomes.append(ReplyOutcome(result=self._take(reply)) if rejection is None else
                            ReplyOutcome(error_type=API_ERROR_TYPE[rejection.kind], message=rejection.message))
        return ReplyOutcomes(outcomes=outcomes)

    @reply.validator
    def _validate_reply(self, reply: ProjectReply) -> None:
        rejection = self._conversation.check(reply)
        if rejection is not None:
            raise rejection.error()

    @workflow.signal
    def reply_signal(self, reply: ProjectReply) -> None:
        """The same reply for VNFMs that talk to Temporal directly; an invalid one is only logged."""
        rejection = self._conversation.check(reply)
        if rejection is not None:
            self._ctx.log("reply", f"rejected signal reply {reply.state}: {rejection.message}",
                          project_id=reply.project_id)
            return
        if not self._conversation.taken_before(reply):
            self._conversation.accept(reply)

    @workflow.signal
    def host_progress(self, progress: HostProgress) -> None:
        record = next((h for h in self._detail.hosts if h.name == progress.host), None)
        if record is None:
            return
        if progress.phase is not None:
            record.phase = progress.phase
            if progress.phase == HostPhase.IN_MAINTENANCE:
                self._ctx.set_state(SessionState.START_MAINTENANCE, f"{progress.host} in maintenance")
            elif progress.phase == HostPhase.MAINTAINED:
                record.disabled_by_session = False
                self._ctx.upsert_hosts()
            elif progress.phase == HostPhase.RETIRED:
                # At once, not when the child's result comes: an abort from now on must not count it as its own.
                record.disabled_by_session, record.retired = False, True
        if progress.instance is not None:
            o = progress.instance
            inst = self._detail.instance(o.instance_id)
            if inst is not None:
                inst.action, inst.action_done, inst.error = o.action, o.done, o.error
                inst.host = o.host if o.done else inst.host
            verb = "done" if o.done else "failed"
            extra = f" ({o.fallback})" if o.fallback else ""
            self._ctx.log("action", f"{o.action.value} of {o.instance_id} {verb}"
                                f"{' to ' + str(o.host) if o.done and o.host else ''}{extra}"
                                f"{': ' + o.error if o.error else ''}", project_id=o.project_id, host=o.host)
        if progress.plugin_run is not None:
            self._detail.plugin_runs.append(progress.plugin_run)
            r = progress.plugin_run
            self._ctx.log("plugin", f"{r.plugin} ({r.type.value}) {r.state} in {r.duration_s:.1f}s", host=r.host)
        if progress.note:
            self._ctx.log("error", progress.note, host=progress.host)
        if progress.notice is not None:
            n = progress.notice
            self._ctx.outbox.send(n.event_type, n.project_id, n.payload, informational=True)

    @workflow.signal
    def record_action(self, record: ActionRecord) -> None:
        """An admin's or a project's action on the session (abort, pause, ...), with who did it (the API sends it
        before it acts). A signal: it issues no command, so sessions of any release take it."""
        audit_entry(self._ctx, record)

    # --- queries ----------------------------------------------------------------------------------------
    @workflow.query
    def hosts(self) -> SessionHosts:
        """Every host's maintenance state and window, for infrastructure services (`GET /v1/hosts`)."""
        return session_hosts(self._detail, self._ctx.disabled_at, self._ctx.plan_s)

    @workflow.query
    def detail(self) -> SessionDetail:
        return self._detail

    @workflow.query
    def status(self) -> SessionStatus:
        d = self._detail
        return SessionStatus(session_id=d.session_id, state=d.state, reason=d.reason, current=d.current,
                             hosts_total=len(d.hosts), hosts_maintained=sum(h.maintained for h in d.hosts),
                             paused=d.steering.paused, paused_by=d.steering.paused_by,
                             pause_reason=d.steering.pause_reason)

    @workflow.query
    def gauges(self) -> SessionGauges:
        """What the metrics census reads (fenix/census.py): state, hosts, waits and deadlines, without the history."""
        d = self._detail
        until = [p.reply_at for p in d.projects if p.awaiting and p.reply_at is not None]
        until += [i.actions_at for i in d.instances if i.actions_at is not None and not i.action_done]
        if d.state == SessionState.MAINTENANCE:
            until.append(d.maintenance_at)
        hosts = []
        for h in d.hosts:
            disabled = h.disabled_by_session and h.name in self._ctx.disabled_at
            hosts.append(HostGauges(host=h.name, phase=h.phase,
                                    disabled_at=self._ctx.disabled_at[h.name] if disabled else None,
                                    plan_s=self._ctx.plan_s.get(h.name) if disabled else None,
                                    waits=self._flow.waits(h.name)))
        return SessionGauges(session_id=d.session_id, workflow=d.workflow, state=d.state,
                             last_progress_at=d.history[-1].at if d.history else workflow.info().start_time,
                             waiting_until=max(until) if until else None, hosts=hosts)

    @workflow.query
    def project_instances(self, q: ProjectInstancesQuery) -> ProjectInstances:
        """Fenix's `GET /v1/maintenance/{session}/{project}`: the instances asked about now, else all."""
        p = next((p for p in self._detail.projects if p.project_id == q.project_id), None)
        if p is None:
            return ProjectInstances(instance_ids=[], known=False)
        if p.awaiting and p.asked_instances:
            return ProjectInstances(instance_ids=list(p.asked_instances))
        return ProjectInstances(instance_ids=[i.instance_id for i in self._detail.instances
                                              if i.project_id == q.project_id])

    # --- helpers ----------------------------------------------------------------------------------------
    async def _abort(self) -> None:
        self._detail.aborted = True
        await self._fail("aborted by the admin")

    async def _fail(self, reason: str) -> None:
        """End in MAINTENANCE_FAILED: re-enable what the session disabled, tell projects and infra."""
        ctx, inp = self._ctx, self._ctx.inp
        self._detail.reason = reason
        ctx.set_state(SessionState.MAINTENANCE_FAILED, f"failed: {reason}")
        # No instance stays unconfirmed or half-moved behind a session that has ended (docs/architecture.md#abort).
        if workflow.patched(SETTLE_AT_CLEANUP):
            ctx.current(f"failed: {reason}; settling the instances' moves")
            settled = await settle_moves([i.instance_id for i in self._detail.instances])
            if settled.summary():
                ctx.log("cleanup", settled.summary())
        for record in self._detail.hosts:
            if record.disabled_by_session:
                ctx.current(f"failed: {reason}; re-enabling {record.name}")
                enabled = await workflow.execute_activity_method(
                    CloudActivities.enable_host, HostRequest(host=record.name, reason=ctx.disable_reason),
                    **CLEANUP)
                if inp.retire and retired_in_cloud(enabled, inp):  # the abort raced the host's retirement
                    host_retired(self._detail, ctx.outbox, inp, record.name)
                    continue
                if host_events_on():  # also a host disabled but not yet in maintenance: back in service
                    send_host_event(ctx.outbox, inp, record.name, HostState.MAINTENANCE_COMPLETE)
                elif record.phase == HostPhase.IN_MAINTENANCE:
                    host_notice = HostNotice(project_id=inp.admin_project_id, host=record.name,
                                             state="MAINTENANCE_COMPLETE", session_id=inp.session_id)
                    ctx.outbox.send(EVENT_HOST, None, host_notice.model_dump())
                record.disabled_by_session = False
                record.phase = HostPhase.FAILED if not record.maintained else record.phase
                ctx.log("host", f"{record.name} enabled again (session ended)", host=record.name)
        untouched = [record.name for record in self._detail.hosts if record.phase == HostPhase.PENDING]
        if untouched and host_events_on():  # planned, never touched: the plan is off
            send_hosts_event(ctx.outbox, inp, untouched, HostState.CANCELLED)
        ctx.upsert_hosts()
        # Projects may have scaled in: MAINTENANCE_COMPLETE tells them they may scale back out; the
        # metadata says why (Fenix-era VNFMs know no other end state). No reply is awaited.
        for pid in ctx.project_ids():
            url = project_url(inp.api_url, inp.session_id, pid)
            done = ProjectNotice(project_id=pid, session_id=inp.session_id,
                                 state=SessionState.MAINTENANCE_COMPLETE.value, instance_ids=url, reply_url=url,
                                 metadata={**inp.metadata,
                                           "session_result": SessionState.MAINTENANCE_FAILED.value,
                                           "reason": reason})
            ctx.outbox.send(EVENT_PROJECT, pid, done.model_dump())
        await ctx.outbox.drain(ctx.drain_limit)
