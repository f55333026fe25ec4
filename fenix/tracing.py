"""Optional OpenTelemetry tracing: one trace from an API request through its workflow into the activities.

Off unless a collector is named (FENIX_OTLP_ENDPOINT, or the standard OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true turns it off again. Spans go to the collector over
OTLP/HTTP, batched. The other standard variables apply as the OpenTelemetry SDK reads them: OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES (default service name `fenix-api` / `fenix-worker`), OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*.

The spans: FastAPI's for each `/v1` request (not the health probes), and the Temporal SDK's TracingInterceptor on
the Temporal client: StartWorkflow / SignalWorkflow / StartWorkflowUpdate / QueryWorkflow in the API, RunWorkflow,
StartActivity, StartChildWorkflow, HandleUpdate ... in the worker's workflows, RunActivity around each activity.
The interceptor, not the SDK's newer OpenTelemetryPlugin: the plugin is experimental, and shows a workflow's spans
only once the workflow ends, which for a maintenance session is hours later. The interceptor adds no workflow
command (the trace context rides in headers) and creates no span while a workflow replays, so recorded histories
replay unchanged (tests/workflows/test_replay_releases.py runs with it).
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from fenix.settings import Settings

log = logging.getLogger("fenix.tracing")

API_SERVICE = "fenix-api"
WORKER_SERVICE = "fenix-worker"
TRACER_NAME = "fenix"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_TRACES_PATH = "/v1/traces"
# Probes every few seconds would drown the traces that matter.
UNTRACED_URLS = "/healthz,/readyz"

_installed: TracerProvider | None = None


def enabled(settings: Settings) -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(settings.otlp_endpoint or any(os.environ.get(name) for name in _ENDPOINT_VARIABLES))


def traces_url(endpoint: str) -> str:
    """FENIX_OTLP_ENDPOINT is the collector's base URL, like OTEL_EXPORTER_OTLP_ENDPOINT: the OTLP/HTTP traces
    path is added unless it is there already."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH


def setup_tracing(settings: Settings, service: str) -> TracerProvider | None:
    """The process's tracer provider, exporting to the configured collector, or None when tracing is off.

    Made once per process and set as OpenTelemetry's global provider (for any library instrumented later)."""
    global _installed
    if not enabled(settings):
        return None
    if _installed is not None:
        return _installed
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    exporter = (OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint)) if settings.otlp_endpoint
                else OTLPSpanExporter())  # reads the OTEL_EXPORTER_OTLP_* variables itself
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _installed = provider
    log.info("tracing on: spans of %s go to %s", resource.attributes.get(SERVICE_NAME),
             traces_url(settings.otlp_endpoint) if settings.otlp_endpoint else "the OTEL_EXPORTER_OTLP_* endpoint")
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[TracingInterceptor]:
    """For the Temporal client: a worker made from a client takes the client's interceptors that are worker
    interceptors too, as this one is, so the worker's workflows and activities are traced as well."""
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))]


def instrument_api(app: FastAPI, provider: TracerProvider | None) -> None:
    """A span per request (before the app first serves). Headers are not recorded: they carry the tokens."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS,
                                       exclude_spans=["receive", "send"])
