"""Tag every log line an activity causes with its ids, not only those of `activity.logger`.

The SDK adds the activity's ids to lines logged through `activity.logger`; the cloud driver, the plug-ins and
httpx log through their own loggers. This worker interceptor binds the ids (and the session, host and project the
activity works for) as structlog context variables around each activity. The SDK runs a thread-pool activity in a
copy of the calling context, so the binding reaches the cloud driver's thread too. Activities only: workflow code
must stay deterministic and logs through `workflow.logger`, which carries its ids by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from fenix.constants import session_and_host

# Fields of an activity's argument worth a place on each of its lines (most arguments name one of them).
ARGUMENT_FIELDS = ("session_id", "host", "project_id")


def activity_fields(info: activity.Info, args: Sequence[Any]) -> dict[str, Any]:
    session_id, host = session_and_host(info.workflow_id or "")
    found: dict[str, Any] = {"workflow_id": info.workflow_id, "run_id": info.workflow_run_id,
                             "workflow_type": info.workflow_type, "activity_type": info.activity_type,
                             "activity_id": info.activity_id, "attempt": info.attempt,
                             "session_id": session_id, "host": host}
    if args:
        # The argument's own fields first, then those of the models it holds (a delivery's envelope).
        holders = [args[0], *(v for v in vars(args[0]).values() if isinstance(v, BaseModel))] \
            if isinstance(args[0], BaseModel) else [args[0]]
        for name in ARGUMENT_FIELDS:
            value = next((v for h in holders if isinstance(v := getattr(h, name, None), str) and v), None)
            if value is not None:
                found[name] = value
    return {k: v for k, v in found.items() if v is not None}


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with structlog.contextvars.bound_contextvars(**activity_fields(activity.info(), input.args)):
            return await super().execute_activity(input)


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
