"""One session per host: a new session may not take hosts that a running session holds."""

from __future__ import annotations

from fastapi import HTTPException
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from fenix.constants import SESSION_WORKFLOW_TYPE, session_id_from_workflow_id

# The hosts a session asked for are in its memo (set at start), so no query has to reach a worker.
MEMO_HOSTS = "hosts"
RUNNING = f"WorkflowType = '{SESSION_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"


async def ensure_hosts_free(client: Client, hosts: list[str]) -> None:
    """409 if a running session holds any of `hosts` (an empty list means every compute host).

    Visibility is eventually consistent (about a second on the dev server), so two sessions started at the same
    moment can both pass; the session itself then refuses hosts that are already disabled.
    """
    wanted = set(hosts)
    try:
        async for wf in client.list_workflows(RUNNING):
            memo = await wf.memo()
            theirs = set(memo.get(MEMO_HOSTS) or [])
            clash = sorted(wanted & theirs) if wanted and theirs else sorted(wanted or theirs) or ["all hosts"]
            if clash:
                raise HTTPException(409, f"host(s) {', '.join(clash)} already in running maintenance session "
                                         f"{session_id_from_workflow_id(wf.id)}")
    except RPCError as err:
        # The time-skipping test server has no visibility; the check is a convenience, not the only guard.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
