"""Temporal and validation errors mapped to HTTP, in one place. Never a 500 with a traceback."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from api.deadline import RequestTimedOut
from api.schemas import ErrorBody, ValidationErrorBody
from api.temporal_link import TemporalNotReady
from fenix.cloud.driver import NotFound
from workflows import constraints as constraints_wf
from workflows.deadline import DEADLINE_PASSED
from workflows.leases import HOSTS_HELD, LEASE_UNCHECKED
from workflows.project_constraints import CLOUD_UNAVAILABLE
from workflows.steering import STEER_CONFLICT

log = logging.getLogger("fenix.api")

# ApplicationError types raised by workflow validators -> HTTP status (unknown types answer 422). A write that
# reached its workflow after the API's deadline is a 503 like the API's own timeout: the client may try again.
UPDATE_STATUS = {"StaleReply": 409, "InvalidReply": 422, "UnknownProject": 404, "LimitReached": 409,
                 STEER_CONFLICT: 409, HOSTS_HELD: 409, LEASE_UNCHECKED: 503,
                 constraints_wf.NOT_FOUND: 404, constraints_wf.INVALID: 422, constraints_wf.CONFLICT: 409,
                 DEADLINE_PASSED: 503, CLOUD_UNAVAILABLE: 503}
RETRY_AFTER = {"Retry-After": "5"}  # on every 503: the cause (no worker, Temporal down) is usually brief


# The SDK's wrappers around the error that says why a call failed: a workflow's or an Update's failure, an
# activity's or a child workflow's.
TEMPORAL_WRAPPERS = (WorkflowFailureError, WorkflowUpdateFailedError, ActivityError, ChildWorkflowError)


def root_cause(err: BaseException) -> BaseException:
    """The error that says why a Temporal call failed, out of the SDK's wrappers.

    Followed down to the first error that is not a wrapper: an ApplicationError raised by Fenix's code (its `type`
    maps to HTTP, UPDATE_STATUS), or Temporal's own (a cancel, a termination, a timeout). Not further: a workflow
    that raises `ApplicationError(..., type=CLOUD_UNAVAILABLE) from err` names the reason itself, and the
    activity error under it is only how it found out."""
    while isinstance(err, TEMPORAL_WRAPPERS) and err.__cause__ is not None:
        err = err.__cause__
    return err


def is_not_found(err: BaseException) -> bool:
    """Temporal has no such workflow, or (an Update) no longer a running one."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


def cloud_read_failed(err: WorkflowFailureError, what: str) -> HTTPException:
    """A short workflow that reads the cloud for a request (plan preview, capacity) failed: a host the cloud does not
    know is the caller's mistake (422); anything else is the cloud's or Temporal's (503, saying `what` failed)."""
    cause = root_cause(err)
    message = (cause.message if isinstance(cause, FailureError) else "") or str(cause)
    if isinstance(cause, ApplicationError) and cause.type == NotFound.__name__:  # a host the cloud does not know
        return HTTPException(422, message)
    return HTTPException(503, f"{what}: {message}")


def update_met_workflow_end(err: BaseException) -> bool:
    """Whether an Update failed because its workflow closed meanwhile: Temporal answers an Update to a closed workflow
    NOT_FOUND, or aborts one in flight "by closing workflow" (not an error the workflow's own code raised)."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause = root_cause(err)
        return not isinstance(cause, ApplicationError) and "closing workflow" in str(cause)
    return is_not_found(err)


def error_doc(description: str) -> dict[str, object]:
    """An error status as the OpenAPI document declares it: the common error body, and when it is answered."""
    return {"model": ErrorBody, "description": description}


# Declared on every /v1 operation (api/app.py), as docs/api.md#errors lists them.
API_ERRORS: dict[int | str, dict[str, object]] = {
    400: error_doc("Temporal refused an argument, or a malformed request (e.g. Content-Length)"),
    401: error_doc("no token, or an unknown one (`WWW-Authenticate` says how to authenticate)"),
    403: error_doc("the token lacks the role, or acts for another project"),
    404: error_doc("no such session, subscription, constraint or path"),
    409: error_doc("a conflict: a stale reply, an ended session, hosts held by another session, a limit reached"),
    413: error_doc("the request body is larger than FENIX_API_MAX_BODY_BYTES"),
    422: {"model": ValidationErrorBody, "description": "an invalid body, path or query (also a body that is not "
                                                       "UTF-8)"},
    502: error_doc("Temporal failed the request"),
    503: error_doc("Temporal or a worker did not answer in time, or Keystone is unreachable; nothing was applied "
                   "(`Retry-After`)"),
}


FASTAPI_PARSE_ERROR = "There was an error parsing the body"
def allowed_methods(request: Request) -> list[str]:
    """The methods the API documents for this URL (Starlette's 405 names only the first matching route's).

    Read from the OpenAPI paths: where two templates match one URL (`/maintenance/{id}/detail` and
    `/maintenance/{id}/{project_id}`), the most specific one (fewest parameters) is the URL's resource."""
    table: list[tuple[re.Pattern[str], int, list[str]]] | None = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, ops in request.app.openapi().get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$")
            table.append((regex, template.count("{"), sorted(m.upper() for m in ops)))
        request.app.state.allow_table = table
    found = sorted((params, methods) for regex, params, methods in table if regex.match(request.url.path))
    return found[0][1] if found else []


class SessionNotFound(HTTPException):
    def __init__(self, session_id: str) -> None:
        super().__init__(404, f"no maintenance session {session_id!r}")


def error_response(message: str, status: int) -> JSONResponse:
    # `error` is what Fenix clients read; `detail` is what FastAPI clients expect.
    return JSONResponse({"error": message, "detail": message}, status_code=status,
                        headers=RETRY_AFTER if status == 503 else None)


def install(app: FastAPI) -> None:
    # Starlette's class, not FastAPI's subclass: unknown paths (404) and wrong methods (405) raised by the
    # router get the same {"error", "detail"} body as our own errors.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_PARSE_ERROR:
            # FastAPI's answer to a body json.loads gives up on (nested too deeply, ...): a body that does not
            # parse is a 422 like any other (docs/api.md#errors).
            return JSONResponse({"error": "the body is not valid JSON (or is nested too deeply)",
                                 "detail": [{"type": "json_invalid", "loc": ["body"],
                                             "msg": "the body is not valid JSON (or is nested too deeply)"}]},
                                status_code=422)
        resp = error_response(str(exc.detail), exc.status_code)
        if exc.headers:
            resp.headers.update(exc.headers)
        if exc.status_code == 405:
            resp.headers["Allow"] = ", ".join(allowed_methods(request)) or resp.headers.get("Allow", "")
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
        cause = root_cause(exc)
        if isinstance(cause, ApplicationError):
            return error_response(cause.message, UPDATE_STATUS.get(cause.type or "", 422))
        return error_response(str(cause), 422)

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def update_timeout(_: Request, __: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        return error_response("the workflow did not take the request in time (no worker running?); try again", 503)

    @app.exception_handler(RequestTimedOut)
    async def timed_out(_: Request, exc: RequestTimedOut) -> JSONResponse:
        log.warning("request timed out: %s", exc.message)
        return error_response(exc.message, 503)

    @app.exception_handler(TemporalNotReady)
    async def not_ready(_: Request, exc: TemporalNotReady) -> JSONResponse:
        return error_response(exc.reason, 503)

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return error_response(f"not found: {exc.message}", 404)
        # CANCELLED is what the SDK reports when a call's own timeout expires ("Timeout expired"): a query that no
        # worker answers ends so. It was answered 502 before; it is the same "try again later" as the others.
        # RESOURCE_EXHAUSTED: e.g. more than 10 Updates in flight to one workflow (a burst): try again shortly.
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED,
                          RPCStatusCode.RESOURCE_EXHAUSTED):
            log.warning("Temporal unavailable: %s", exc.message)
            return error_response(f"the workflow service did not answer ({exc.message}): Temporal is unreachable or "
                                  "no Fenix worker is running; try again", 503)
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return error_response(exc.message, 400)
        log.error("Temporal error %s: %s", exc.status, exc.message)
        return error_response("the workflow service failed the request", 502)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(f"internal error ({type(exc).__name__}); see the API log", 500)

