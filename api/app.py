"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client

from api import errors
from api.auth import Authenticator, make_authenticator
from api.body_limit import BodyLimit
from api.deadline import Clock, wall_clock
from api.gate import AuthFirst, Utf8Body
from api.log_context import bind_request_context
from api.metrics import METRICS_PATH, ApiMetrics, HttpMetrics
from api.registries import Registries
from api.routes import (
    capacity,
    constraints,
    history,
    hosts,
    plan,
    projects,
    session_pages,
    sessions,
    steering,
    subscriptions,
)
from api.temporal_link import TemporalLink
from fenix.health import ReadinessOut, merge, run_check
from fenix.logs import configure_logging, logging_configured
from fenix.settings import Settings, get_settings
from fenix.tracing import API_SERVICE, instrument_api, setup_tracing, temporal_interceptors

# The exit status when Temporal never came (uvicorn's own for an application that cannot start): non-zero, so
# a supervisor restarts the API (systemd's Restart=on-failure ignores a process ended by SIGTERM).
GAVE_UP_EXIT = 3
FLUSH_SPANS_MS = 2000


def create_app(settings: Settings | None = None, client: Client | None = None, clock: Clock | None = None,
               tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Build the app. Tests inject a Temporal client, and on the time-skipping server its virtual clock (write
    deadlines are compared with the workflows' time); otherwise it connects at start-up, in the background.
    `tracer_provider`: tests trace into memory; otherwise tracing follows the settings (fenix/tracing.py)."""
    settings = settings or get_settings()
    # uvicorn (docker-compose runs it directly) sets up only its own loggers: without this, Fenix's would reach stderr
    # only from WARNING up, without a time. Left alone when something set up logging already (`fenix api`, tests).
    if not logging_configured():
        configure_logging(settings.log_format, settings.log_level)
    provider = tracer_provider if tracer_provider is not None else setup_tracing(settings, API_SERVICE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.clock = clock or wall_clock
        app.state.authenticator = make_authenticator(settings)  # tokens mode: creates the admin token if needed
        link = app.state.temporal = TemporalLink(settings, client, temporal_interceptors(provider))
        # Each registry workflow is started on its first use and reached by its handle from then on (api/deps.py).
        app.state.registries = Registries(link, settings)
        link.start()
        try:
            yield
        finally:
            await link.close()
            app.state.authenticator.close()
            if provider is not None:
                provider.force_flush(FLUSH_SPANS_MS)  # the last requests' spans, before a possible os._exit
            if link.gave_up:
                logging.shutdown()
                os._exit(GAVE_UP_EXIT)  # after the graceful shutdown; SystemExit here would only be logged

    app = FastAPI(title="Fenix", version="0.1.0", lifespan=lifespan,
                  dependencies=[Depends(bind_request_context)],  # log lines name the request's session, project...
                  description="Rolling infrastructure maintenance that talks to the applications. "
                              "Fenix v1 compatible. Authenticate with `X-Auth-Token` or a bearer token.")
    errors.install(app)
    # The last added runs first: the metrics, then the token (from the headers, before any body is read), then the
    # body's size (bounded before anything reads or parses it), then its encoding (docs/security.md).
    app.add_middleware(Utf8Body)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(AuthFirst)
    # Outermost: times and counts every request, those refused before routing too (api/metrics.py).
    metrics = app.state.metrics = ApiMetrics()
    app.add_middleware(HttpMetrics, metrics=metrics)
    # Sessions first: its `/{session_id}/detail` must win over the project route's `/{session}/{project}`.
    app.include_router(plan.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(capacity.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(sessions.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(steering.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(history.router, prefix="/v1", responses=errors.API_ERRORS)  # before /{session}/{project}
    app.include_router(session_pages.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(projects.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(subscriptions.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(hosts.router, prefix="/v1", responses=errors.API_ERRORS)
    app.include_router(constraints.router, prefix="/v1", responses=errors.API_ERRORS)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves. Does not look at Temporal."""
        return {"status": "ok"}

    # Outside /v1, so no token, like the health checks: it shows no tenant data (api/metrics.py).
    app.add_route(METRICS_PATH, metrics.endpoint, methods=["GET"], include_in_schema=False)

    @app.get("/readyz", tags=["health"], response_model=ReadinessOut,
             responses={503: {"model": ReadinessOut, "description": "a check failed: `error` says which and why"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: connected to Temporal, which answers now, with the namespace and Fenix's search attributes;
        the tokens file (or Keystone) usable. Each check's result; 503 when one failed."""
        link: TemporalLink = request.app.state.temporal
        authenticator: Authenticator = request.app.state.authenticator
        temporal, auth = await asyncio.gather(link.checks(), run_check(authenticator.check))
        readiness = merge(temporal, {"auth": auth})
        return JSONResponse(readiness.body().model_dump(mode="json", exclude_none=True),
                            status_code=200 if readiness.ready else 503,
                            headers=None if readiness.ready else errors.RETRY_AFTER)

    instrument_api(app, provider)
    return app
