"""The two log formats: what a line carries (the Temporal SDK's ids flattened, bound context, trace ids), what it
never carries (secrets), and that the console format stays for people."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from fenix.constants import host_workflow_id, session_and_host, session_workflow_id
from fenix.logs import REDACTED, bind
from fenix.settings import Settings
from tests.logs.conftest import Configure


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_session_and_host_from_workflow_ids() -> None:
    assert session_and_host(session_workflow_id("s1")) == ("s1", None)
    assert session_and_host(host_workflow_id("s1", "compute-0")) == ("s1", "compute-0")
    assert session_and_host("fenix-subscriptions") == (None, None)


def test_json_lines_flatten_the_temporal_sdks_details(log_stream: Configure) -> None:
    stream = log_stream("json", "INFO")
    activity_details = {"activity_id": "3", "activity_type": "disable_host", "attempt": 1, "namespace": "default",
                        "task_queue": "fenix", "workflow_id": host_workflow_id("s1", "c0"), "workflow_run_id": "r1",
                        "workflow_type": "HostMaintenance"}
    logging.getLogger("temporalio.activity").info("disabling", extra={"temporal_activity": activity_details})
    workflow_details = {"attempt": 1, "namespace": "default", "run_id": "r2", "task_queue": "fenix",
                        "workflow_id": session_workflow_id("s2"), "workflow_type": "MaintenanceSession"}
    logging.getLogger("temporalio.workflow").warning("state: SCALE_IN", extra={"temporal_workflow": workflow_details,
                                                                               "project_id": "alpha"})
    first, second = lines(stream.getvalue())
    assert first["message"] == "disabling" and first["level"] == "info" and first["logger"] == "temporalio.activity"
    assert {k: first[k] for k in ("workflow_id", "run_id", "activity_type", "activity_id", "session_id", "host")} == {
        "workflow_id": "maint-s1/host/c0", "run_id": "r1", "activity_type": "disable_host", "activity_id": "3",
        "session_id": "s1", "host": "c0"}
    assert "temporal_activity" not in first and first["timestamp"].endswith("Z")
    assert second["session_id"] == "s2" and second["run_id"] == "r2" and second["project_id"] == "alpha"
    assert second["level"] == "warning" and "host" not in second


def test_bound_context_and_the_current_span(log_stream: Configure) -> None:
    stream = log_stream("json", "INFO")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        bind(session_id="s3", project_id="beta", caller=None)
        logging.getLogger("fenix.api").info("reply taken")
    (line,) = lines(stream.getvalue())
    assert line["session_id"] == "s3" and line["project_id"] == "beta" and "caller" not in line
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_secrets_are_masked(log_stream: Configure) -> None:
    stream = log_stream("json", "INFO")
    log = logging.getLogger("fenix.test")
    log.info("sending Authorization: Bearer abcdefgh12345678 to %s", "vnfm", extra={"token": "t0p-s3cret",
                                                                                     "signing_secret": "whsec_x"})
    log.info("headers {'X-Auth-Token': 'zyxwvut98765'}")
    text = stream.getvalue()
    for secret in ("abcdefgh12345678", "t0p-s3cret", "whsec_x", "zyxwvut98765"):
        assert secret not in text
    first, _ = lines(text)
    assert first["token"] == REDACTED and first["message"] == f"sending Authorization: Bearer {REDACTED} to vnfm"


def test_exceptions_in_json_and_console(log_stream: Configure) -> None:
    for fmt in ("json", "console"):
        stream = log_stream(fmt, "INFO")
        secret_local = "never-in-a-traceback"  # noqa: F841 - a rich traceback would print the frame's locals
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("fenix.test").exception("failed")
        text = stream.getvalue()
        assert "RuntimeError: boom" in text and "never-in-a-traceback" not in text
        if fmt == "json":
            assert "RuntimeError: boom" in lines(text)[0]["exception"]


def test_console_is_for_people(log_stream: Configure) -> None:
    stream = log_stream("console", "INFO")
    logging.getLogger("fenix.temporal").info("api: connected to %s", "Temporal", extra={"session_id": "s4"})
    logging.getLogger("fenix.temporal").debug("not shown at INFO")
    (line,) = stream.getvalue().splitlines()
    assert not line.startswith("{") and "[info" in line and "api: connected to Temporal" in line
    assert "session_id=s4" in line and "fenix.temporal" in line


def test_uvicorn_lines_go_the_same_way(log_stream: Configure, monkeypatch: pytest.MonkeyPatch) -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    # What uvicorn's own set-up leaves (--log-level info); put back afterwards: other tests run uvicorn, and one
    # with log_level="warning" leaves that level behind.
    monkeypatch.setattr(uvicorn_log, "handlers", [logging.NullHandler()])
    monkeypatch.setattr(uvicorn_log, "propagate", False)
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)
    try:
        stream = log_stream("json", "INFO")
        uvicorn_log.info("Started server process", extra={"color_message": "Started \x1b[36mserver\x1b[0m process"})
    finally:
        uvicorn_log.setLevel(level)
    (line,) = lines(stream.getvalue())
    assert line["logger"] == "uvicorn.error" and "color_message" not in line


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.log_format, defaults.log_level, defaults.otlp_endpoint) == ("console", "INFO", None)
    assert defaults.worker_health_port == 9465
    monkeypatch.setenv("FENIX_LOG_FORMAT", "json")
    monkeypatch.setenv("FENIX_LOG_LEVEL", "debug")
    settings = Settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
