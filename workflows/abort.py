"""Abort of a session that may be wedged: ask it to stop, and if it cannot, stop it and clean up for it.

A session normally aborts itself: the API's cancel reaches it, it follows the move in flight to its end, re-enables
its hosts and ends MAINTENANCE_FAILED. A session that cannot make progress never does: its workflow task fails on
every attempt (a release that cannot replay its history, an input it cannot decode) or it waits on something that
will not come. Its hosts would stay disabled and held by it for ever. So the API's DELETE also starts this small
workflow (id `abort-<session>`, one per session), which watches the session without depending on its code:

- the session closes by itself: done (outcome "ended");
- its workflow task keeps failing, or its history has not grown for `quiet_limit_s` since the cancel: it is
  terminated, and this workflow re-enables every host that still carries the session's disable reason (outcome
  "terminated"). Terminating it also ends its hold on its hosts: this workflow gives its host lease back
  (workflows/leases.py, which also counts a lease only while its session runs).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud import CloudActivities
    from activities.sessions import SessionControl
    from fenix.constants import disable_reason
    from fenix.models.abort import AbortInput, AbortResult, DisabledHosts, SessionProbe, SessionRef
    from fenix.models.cloud_ops import HostRequest
    from workflows.options import CLEANUP, CLOUD_CALL, REGISTRY_QUERY
    from workflows.patches import ABORT_RELEASES_LEASE

ABORT_WORKFLOW_TYPE = "SessionAbort"


def abort_workflow_id(session_id: str) -> str:
    return f"abort-{session_id}"


@workflow.defn(name=ABORT_WORKFLOW_TYPE)
class SessionAbortWorkflow:
    @workflow.run
    async def run(self, inp: AbortInput) -> AbortResult:
        ref = SessionRef(session_id=inp.session_id)
        await workflow.execute_activity_method(SessionControl.cancel, ref, **CLOUD_CALL)
        last_length, quiet_s = -1, 0.0
        while True:
            probe: SessionProbe = await workflow.execute_activity_method(SessionControl.probe, ref, **CLOUD_CALL)
            if probe.closed:
                return AbortResult(session_id=inp.session_id, outcome="ended")
            if probe.task_attempt >= inp.failed_task_attempts:
                why = f"its workflow task failed {probe.task_attempt} times in a row"
                break
            # Quiet time is counted in polls, not read from a clock: the decision replays the same.
            quiet_s = 0.0 if probe.history_length != last_length else quiet_s + inp.poll_s
            last_length = probe.history_length
            if quiet_s >= inp.quiet_limit_s:
                why = f"its history did not grow for {quiet_s:.0f} s after the abort"
                break
            workflow.set_current_details(f"waiting for session {inp.session_id} to end by itself")
            await workflow.sleep(timedelta(seconds=inp.poll_s))
        reason = (f"aborted{' by ' + inp.requested_by if inp.requested_by else ''}; the session could not make "
                  f"progress ({why}): terminated, and its hosts re-enabled by the abort")
        workflow.set_current_details(f"terminating session {inp.session_id}: {why}")
        await workflow.execute_activity_method(SessionControl.terminate, SessionRef(session_id=inp.session_id,
                                                                                     reason=reason), **CLOUD_CALL)
        left: DisabledHosts = await workflow.execute_activity_method(SessionControl.hosts_disabled_by, ref,
                                                                     **CLOUD_CALL)
        for host in left.hosts:
            workflow.set_current_details(f"re-enabling {host}")
            await workflow.execute_activity_method(
                CloudActivities.enable_host, HostRequest(host=host, reason=disable_reason(inp.session_id)), **CLEANUP)
        if workflow.patched(ABORT_RELEASES_LEASE):
            # Terminated, it holds no host: say so to the lease registry now. Best effort: a later grant finds out
            # anyway that the session no longer runs, so a failure here must not fail the abort.
            try:
                await workflow.execute_activity_method(SessionControl.release_lease, ref, **REGISTRY_QUERY)
            except ActivityError:
                workflow.logger.warning("could not release the host lease of session %s", inp.session_id)
        return AbortResult(session_id=inp.session_id, outcome="terminated", reason=reason, hosts_enabled=left.hosts)
