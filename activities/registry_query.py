"""A query to one of the long-lived registry workflows (subscriptions, constraints), from an activity."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T", bound=BaseModel)


async def query_registry(client: Client, workflow_id: str, query: str, arg: BaseModel, result_type: type[T],
                         absent: T) -> T:
    """The query's answer, or `absent` when the registry was never started (nobody registered anything yet)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        found: T = await handle.query(query, arg, result_type=result_type)
        return found
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return absent
        raise
