"""What the abort of a wedged session needs from Temporal itself and from the cloud (workflows/abort.py)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from fenix.cloud.driver import CloudDriver
from fenix.constants import disable_reason, session_workflow_id
from fenix.models.abort import DisabledHosts, SessionProbe, SessionRef
from fenix.models.lease import LeaseRelease, SessionsLiveness, SessionsQuery
from workflows.leases import HostLeasesWorkflow, host_leases_id


class SessionControl:
    """Cancel, watch and terminate a session's workflow, and find the hosts it left disabled."""

    def __init__(self, client: Client, driver: CloudDriver) -> None:
        self._client = client
        self._driver = driver

    @activity.defn(name="cancel_session")
    async def cancel(self, ref: SessionRef) -> None:
        try:
            await self._client.get_workflow_handle(session_workflow_id(ref.session_id)).cancel()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # closed already: nothing to cancel
                raise

    @activity.defn(name="probe_session")
    async def probe(self, ref: SessionRef) -> SessionProbe:
        desc = await self._client.get_workflow_handle(session_workflow_id(ref.session_id)).describe()
        raw = desc.raw_description
        status = desc.status or WorkflowExecutionStatus.RUNNING
        attempt = raw.pending_workflow_task.attempt if raw.HasField("pending_workflow_task") else 0
        return SessionProbe(closed=status != WorkflowExecutionStatus.RUNNING, status=status.name,
                            task_attempt=attempt, history_length=desc.history_length)

    @activity.defn(name="terminate_session")
    async def terminate(self, ref: SessionRef) -> None:
        try:
            await self._client.get_workflow_handle(session_workflow_id(ref.session_id)).terminate(reason=ref.reason)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn(name="sessions_liveness")
    async def liveness(self, q: SessionsQuery) -> SessionsLiveness:
        """Which of the sessions still run, and which were never started (for the host leases)."""
        out = SessionsLiveness()
        for sid in q.session_ids:
            try:
                desc = await self._client.get_workflow_handle(session_workflow_id(sid)).describe()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                out.absent.append(sid)
                continue
            if desc.status == WorkflowExecutionStatus.RUNNING:
                out.running.append(sid)
        return out

    @activity.defn(name="release_host_lease")
    async def release_lease(self, ref: SessionRef) -> None:
        """Give the session's host lease back (the lease registry serves this task queue: one per deployment)."""
        handle = self._client.get_workflow_handle_for(HostLeasesWorkflow.run,
                                                      host_leases_id(activity.info().task_queue))
        try:
            # One Update id per session: a retried attempt joins the first instead of queueing another.
            await handle.execute_update(HostLeasesWorkflow.release, LeaseRelease(session_id=ref.session_id),
                                        id=f"release-{ref.session_id}")
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # no lease registry: nothing was leased
                raise

    @activity.defn(name="hosts_disabled_by_session")
    def hosts_disabled_by(self, ref: SessionRef) -> DisabledHosts:
        """The compute hosts that still carry the session's disable reason (a list of names, not the cloud)."""
        reason = disable_reason(ref.session_id)
        return DisabledHosts(hosts=sorted(h.name for h in self._driver.list_compute_hosts()
                                          if not h.enabled and h.disabled_reason == reason))
