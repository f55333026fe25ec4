"""Tag each log line of a request with what it is about (the session, project, host ... of its path) and who asks.

An app-wide dependency: FastAPI resolves it after routing (so the path's parameters are known) and awaits it in the
request's own task, so what it binds reaches the route, the error handlers and uvicorn's access line. Each request
runs in a task of its own: nothing bound here leaks into the next one.
"""

from __future__ import annotations

from fastapi import Request

from api.auth import Principal
from fenix.logs import bind

# Path parameters of the /v1 routes that identify what a request is about.
PATH_FIELDS = ("session_id", "project_id", "host", "subscription_id", "instance_id", "group_id")


async def bind_request_context(request: Request) -> None:
    bind(**{name: request.path_params[name] for name in PATH_FIELDS if name in request.path_params})
    principal: Principal | None = getattr(request.state, "principal", None)  # set by api/gate.py for /v1
    if principal is not None:
        bind(caller=principal.name, caller_project=principal.project_id)
