"""Tracing: one trace from `POST /v1/maintenance` through the session workflow into its activities, and traced
histories that replay with tracing on or off (an operator may turn it on or off between two workers' versions)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.stack import stack
from fenix import tracing
from fenix.cloud.simulated import SimHostSpec, SimSeed
from fenix.constants import host_workflow_id, session_workflow_id
from fenix.models.session import SessionState
from fenix.settings import Settings
from worker import WORKFLOWS


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_one_trace_from_the_api_into_the_activities(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = ts_env.client.config()
    config["interceptors"] = tracing.temporal_interceptors(provider)
    client = Client(**config)
    seed = SimSeed(hosts=[SimHostSpec(name="c0", vcpus=4, memory_mb=8192)])  # empty: nobody to ask
    async with stack(ts_env, tmp_path, seed, task_queue=f"trace-{uuid.uuid4()}", client=client,
                     tracer_provider=provider) as st:
        assert (await st.admin.get(st.api_url.removesuffix("/v1") + "/healthz")).status_code == 200  # not traced
        sid = await st.start(hosts=["c0"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        histories = [await client.get_workflow_handle(wf).fetch_history()
                     for wf in (session_workflow_id(sid), host_workflow_id(sid, "c0"))]

    spans = exporter.get_finished_spans()
    (request,) = [s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /v1/maintenance"]
    assert not [s for s in spans if "healthz" in s.name]
    trace_id = request.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    (start,) = named(tuple(in_trace), "StartWorkflow:MaintenanceSession")
    assert named(tuple(in_trace), "RunWorkflow:MaintenanceSession")
    assert named(tuple(in_trace), "RunWorkflow:HostMaintenance")  # the child, too
    activities = {s.name for s in named(tuple(in_trace), "RunActivity:")}
    assert {"RunActivity:cloud_snapshot", "RunActivity:enable_host"} <= activities, activities
    # The workflow start is a descendant of the request's span.
    by_id = {s.context.span_id: s for s in in_trace}
    parent = start.parent
    while parent is not None and parent.span_id != request.context.span_id:
        parent = by_id[parent.span_id].parent
    assert parent is not None, "StartWorkflow is not inside the request's span"

    # The histories carry the trace context in headers: they replay with tracing off and on, and a replay makes
    # no span (the interceptor creates none while replaying).
    before = len(exporter.get_finished_spans())
    for interceptors in ([], tracing.temporal_interceptors(provider)):
        replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, interceptors=interceptors)
        for history in histories:
            await replayer.replay_workflow(history)
    assert len(exporter.get_finished_spans()) == before


def test_off_unless_a_collector_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.enabled(Settings())
    assert tracing.setup_tracing(Settings(), tracing.API_SERVICE) is None
    assert tracing.temporal_interceptors(None) == []
    assert tracing.enabled(Settings(otlp_endpoint="http://collector:4318"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.enabled(Settings())
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.enabled(Settings(otlp_endpoint="http://collector:4318"))


def test_traces_url() -> None:
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://collector:4318/v1/traces/") == "http://collector:4318/v1/traces"
