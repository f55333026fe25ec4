"""A query to one of the long-lived registry workflows (subscriptions, constraints), from an activity."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T", bound=BaseModel)

# A query to a registry whose last worker died waits on that worker's sticky queue until the server gives up on it
# (about 10 s), and the SDK's default RPC timeout would then hold the notice for 30 s. A short timeout and the
# activity's own retry (workflows/options.py REGISTRY_QUERY) reach a live worker sooner after a crash.
QUERY_RPC_TIMEOUT = timedelta(seconds=5)


async def query_registry(client: Client, workflow_id: str, query: str, arg: BaseModel, result_type: type[T],
                         absent: T) -> T:
    """The query's answer, or `absent` when the registry was never started (nobody registered anything yet)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        found: T = await handle.query(query, arg, result_type=result_type, rpc_timeout=QUERY_RPC_TIMEOUT)
        return found
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return absent
        raise
