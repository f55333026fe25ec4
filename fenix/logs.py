"""Logging of the API and the worker: one configuration, human-readable lines or one JSON object per line.

Fenix's code logs with the standard library (`logging.getLogger(...)`, `activity.logger`, `workflow.logger`);
structlog only formats, so every library's records (uvicorn, httpx, temporalio, openstacksdk) come out the same way.
Each line carries what is known where it was logged:

- inside an activity or a workflow: the Temporal SDK's `temporal_activity` / `temporal_workflow` extras, flattened
  into `workflow_id`, `run_id`, `activity_type`, ... (`flatten_temporal`); the session id and the host are read
  from the workflow id (`maint-<session>` and `maint-<session>/host/<host>`);
- in an activity, also in the loggers of the code it calls (the cloud driver, plug-ins): the same ids, bound as
  context variables by `fenix.log_context.LogContextInterceptor`;
- in an API request: the path's session, project, host ... and the caller (api/log_context.py);
- with tracing on, the current `trace_id` and `span_id`, to find a line's trace and a trace's lines.

Secrets: tokens and signing secrets are never passed to a logger by Fenix; as a second line of defence, values of
fields named like secrets, and bearer tokens in a message, are masked (`redact`).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

from fenix.constants import session_and_host

LogFormat = Literal["console", "json"]

# The SDK's names -> ours. `workflow_run_id` (in an activity) is the run of the workflow that scheduled it: the
# same thing a workflow's own lines call `run_id`, so both land in one field.
_TEMPORAL_FIELDS = {"workflow_run_id": "run_id"}
_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
# uvicorn configures its own loggers (handlers, propagate=False) when it starts: taken over, so they go our way.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_LEADING = ("timestamp", "level", "logger", "message")

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_key|signing_key|credential", re.I)
# A bearer token or X-Auth-Token value quoted in a message (an exception text that echoes a request's headers).
_SECRET_IN_TEXT = re.compile(r"(?i)(bearer\s+|x-auth-token['\"]?\s*[:=]\s*['\"]?)[^\s'\",;]{8,}")


class _FenixHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger; a type of its own so configuring again replaces it (tests, `fenix api`)."""


def flatten_temporal(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The SDK's `temporal_workflow` / `temporal_activity` extra dicts as top-level fields, plus `session_id` and
    `host` when the workflow is a session's or a host's."""
    for key in _TEMPORAL_EXTRAS:
        details = event.pop(key, None)
        if isinstance(details, dict):
            for name, value in details.items():
                event.setdefault(_TEMPORAL_FIELDS.get(str(name), str(name)), value)
    workflow_id = event.get("workflow_id")
    if isinstance(workflow_id, str) and "session_id" not in event:
        session_id, host = session_and_host(workflow_id)
        if session_id is not None:
            event["session_id"] = session_id
            if host is not None:
                event.setdefault("host", host)
    return event


def drop_duplicates(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn adds `color_message`, its message again with terminal colours."""
    event.pop("color_message", None)
    return event


def add_trace_ids(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The current OpenTelemetry span, if any (tracing on, inside a request or an activity)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if key != "event" and value is not None and _SECRET_KEY.search(key):
            event[key] = REDACTED
    message = event.get("event")
    if isinstance(message, str):
        event["event"] = _SECRET_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, message)
    return event


def _pre_chain(log_format: LogFormat) -> list[Processor]:
    """Turns any record (a standard library one, or structlog's) into the event dict that is rendered."""
    stamp = (structlog.processors.TimeStamper(fmt="iso", utc=True) if log_format == "json"
             else structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False))
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),  # `extra=` of a record: the SDK's dicts, Fenix's own fields
        stamp,
        drop_duplicates,
        flatten_temporal,
        add_trace_ids,
        redact,
    ]


def _leading_fields_first(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """`timestamp level logger message` open each JSON line, as in the console format, for people reading them."""
    return {**{k: event[k] for k in _LEADING if k in event}, **event}


def _renderer(log_format: LogFormat, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [structlog.processors.format_exc_info, structlog.processors.EventRenamer("message"),
                _leading_fields_first, structlog.processors.JSONRenderer(default=str)]
    # Plain tracebacks: structlog's default (rich) prints each frame's locals, which may hold a token.
    return [structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback,
                                          pad_event_to=0)]


def configure_logging(log_format: LogFormat = "console", level: str | int = "INFO", *,
                      stream: TextIO | None = None) -> None:
    """Send every logger's records to `stream` (stderr) in `log_format`, from `level` up. Safe to call again:
    it replaces what an earlier call set up."""
    stream = stream or sys.stderr
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(log_format),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(log_format, stream)])
    handler = _FenixHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FenixHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The ids are fields now: the SDK need not also append them to each message as a dict's repr.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    # structlog's own loggers (structlog.get_logger()) go the same way as the standard library's.
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name,
                    structlog.stdlib.add_log_level, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)


def logging_configured() -> bool:
    """Whether logging is set up already: by `fenix api`, `make demo`, pytest or an application embedding the API."""
    return bool(logging.getLogger().handlers)


def bind(**fields: Any) -> None:
    """Add fields to every line logged from here on in this task or thread (and the tasks it starts)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})

