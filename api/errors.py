"""Temporal and validation errors mapped to HTTP, in one place. Never a 500 with a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deadline import RequestTimedOut
from api.temporal_link import TemporalNotReady
from workflows import constraints as constraints_wf
from workflows.deadline import DEADLINE_PASSED

log = logging.getLogger("fenix.api")

# ApplicationError types raised by workflow validators -> HTTP status (unknown types answer 422). A write that
# reached its workflow after the API's deadline is a 503 like the API's own timeout: the client may try again.
UPDATE_STATUS = {"StaleReply": 409, "InvalidReply": 422, "UnknownProject": 404, "LimitReached": 409,
                 constraints_wf.NOT_FOUND: 404, constraints_wf.INVALID: 422, constraints_wf.CONFLICT: 409,
                 DEADLINE_PASSED: 503}
RETRY_AFTER = {"Retry-After": "5"}  # on every 503: the cause (no worker, Temporal down) is usually brief


class SessionNotFound(HTTPException):
    def __init__(self, session_id: str) -> None:
        super().__init__(404, f"no maintenance session {session_id!r}")


def _body(message: str, status: int) -> JSONResponse:
    # `error` is what Fenix clients read; `detail` is what FastAPI clients expect.
    return JSONResponse({"error": message, "detail": message}, status_code=status,
                        headers=RETRY_AFTER if status == 503 else None)


def install(app: FastAPI) -> None:
    # Starlette's class, not FastAPI's subclass: unknown paths (404) and wrong methods (405) raised by the
    # router get the same {"error", "detail"} body as our own errors.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        resp = _body(str(exc.detail), exc.status_code)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        detail = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"error": "; ".join(problems), "detail": detail}, status_code=422)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_failed(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            return _body(cause.message, UPDATE_STATUS.get(cause.type or "", 422))
        return _body(str(cause or exc), 422)

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def update_timeout(_: Request, __: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        return _body("the workflow did not take the request in time (no worker running?); try again", 503)

    @app.exception_handler(RequestTimedOut)
    async def timed_out(_: Request, exc: RequestTimedOut) -> JSONResponse:
        log.warning("request timed out: %s", exc.message)
        return _body(exc.message, 503)

    @app.exception_handler(TemporalNotReady)
    async def not_ready(_: Request, exc: TemporalNotReady) -> JSONResponse:
        return _body(exc.reason, 503)

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _body(f"not found: {exc.message}", 404)
        # CANCELLED is what the SDK reports when a call's own timeout expires ("Timeout expired"): a query that no
        # worker answers ends so. It was answered 502 before; it is the same "try again later" as the others.
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            log.warning("Temporal unavailable: %s", exc.message)
            return _body(f"the workflow service did not answer ({exc.message}): Temporal is unreachable or no "
                         "Fenix worker is running; try again", 503)
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return _body(exc.message, 400)
        log.error("Temporal error %s: %s", exc.status, exc.message)
        return _body("the workflow service failed the request", 502)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _body(f"internal error ({type(exc).__name__}); see the API log", 500)

