"""Host leases: one session per host, decided atomically and durably (docs/security.md#host-leases).

The API used to check "is a running session holding these hosts?" in Temporal visibility, which lags by about a
second: six POSTs at once over one host started several sessions. Now every session start first takes a lease on
its hosts with an Update to this workflow (one per deployment: id `host-leases/<task queue>`), and the API answers
only after it is granted; a refusal is a 409 naming the holder.

- Atomic: grants are serialized by a lock in the workflow (Update handlers otherwise interleave at every await).
- Durable: the leases are workflow state, carried over continue-as-new.
- Released on every end without depending on the session's code: a lease counts only while its session's workflow
  runs, which the grant checks (an activity asks Temporal) for every lease it holds. A session that completed,
  failed, was aborted or terminated (workflows/abort.py), or that no worker can run and the abort ended, holds
  nothing. A lease whose session never started (the API died between the grant and the start) lapses after
  NEVER_STARTED_GRACE. The API also releases at once when the start itself fails.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from fenix.models.lease import (
        HeldQuery,
        Lease,
        LeaseGranted,
        LeaseRelease,
        LeaseReleased,
        LeaseRequest,
        LeasesState,
        SessionsLiveness,
        SessionsQuery,
    )
    from workflows.deadline import refuse_if_late
    from workflows.options import REGISTRY_QUERY

HOST_LEASES_TYPE = "HostLeases"
HOSTS_HELD = "HostsHeld"  # 409
LEASE_UNCHECKED = "LeaseUnchecked"  # 503: could not ask Temporal whether the holders still run
# Longer than the API's longest write deadline (600 s): a lease whose session was not started by then never will be.
NEVER_STARTED_GRACE = timedelta(minutes=11)


def host_leases_id(task_queue: str) -> str:
    return f"host-leases/{task_queue}"


def clash(mine: list[str], theirs: list[str]) -> list[str]:
    """Hosts two sessions would share; an empty list of hosts means every host."""
    if mine and theirs:
        return sorted(set(mine) & set(theirs))
    return sorted(set(mine) or set(theirs)) or ["all hosts"]


@workflow.defn(name=HOST_LEASES_TYPE)
class HostLeasesWorkflow:
    """Updates `acquire` and `release`; queries `leases` and `held`."""

    @workflow.init
    def __init__(self, state: LeasesState) -> None:
        self._leases = {lease.session_id: lease for lease in state.leases}
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, state: LeasesState) -> None:
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(LeasesState(leases=list(self._leases.values())))

    @workflow.update
    async def acquire(self, req: LeaseRequest) -> LeaseGranted:
        async with self._lock:  # one grant at a time: the check and the grant are one step
            stale = await self._drop_ended()
            for lease in sorted(self._leases.values(), key=lambda lease: lease.session_id):
                hosts = clash(req.hosts, lease.hosts) if lease.session_id != req.session_id else []
                if hosts:
                    raise ApplicationError(f"host(s) {', '.join(hosts)} already in running maintenance session "
                                           f"{lease.session_id}", type=HOSTS_HELD)
            refuse_if_late(req.not_after, "the host lease")  # the API gave up: its session will not start
            self._leases[req.session_id] = Lease(session_id=req.session_id, hosts=req.hosts, taken_at=workflow.now())
            return LeaseGranted(session_id=req.session_id, released_stale=stale)

    @acquire.validator
    def _validate_acquire(self, req: LeaseRequest) -> None:
        refuse_if_late(req.not_after, "the host lease")

    async def _drop_ended(self) -> list[str]:
        """Drop the leases of sessions that no longer run (whatever ended them)."""
        if not self._leases:
            return []
        try:
            alive: SessionsLiveness = await workflow.execute_activity(
                "sessions_liveness", SessionsQuery(session_ids=sorted(self._leases)), result_type=SessionsLiveness,
                **REGISTRY_QUERY)
        except ActivityError as err:
            raise ApplicationError("could not ask Temporal which sessions still run; try again",
                                   type=LEASE_UNCHECKED) from err
        now = workflow.now()
        ended = [sid for sid, lease in self._leases.items()
                 if sid not in alive.running
                 and (sid not in alive.absent or now - lease.taken_at > NEVER_STARTED_GRACE)]
        for sid in ended:
            del self._leases[sid]
        return sorted(ended)

    @workflow.update
    def release(self, req: LeaseRelease) -> LeaseReleased:
        return LeaseReleased(released=self._leases.pop(req.session_id, None) is not None)

    @workflow.query(name="leases")
    def leases(self) -> LeasesState:
        return LeasesState(leases=sorted(self._leases.values(), key=lambda lease: lease.session_id))

    @workflow.query(name="held")
    def held(self, q: HeldQuery) -> LeasesState:
        """The leases that hold `q.host` (a lease of every host holds it too), or all of them: which sessions
        `GET /v1/hosts` asks about their hosts. A lease may outlive its session until the next grant: the caller
        asks the session whether it still runs."""
        return LeasesState(leases=[lease for lease in self.leases().leases
                                   if q.host is None or not lease.hosts or q.host in lease.hosts])
