"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import errors
from api.auth import make_authenticator
from api.routes import constraints, hosts, plan, projects, sessions, subscriptions
from fenix.settings import Settings, get_settings
from fenix.temporal import connect


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """Build the app. Tests inject a Temporal client; otherwise it connects at start-up."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.authenticator = make_authenticator(settings)  # tokens mode: creates the admin token if needed
        try:
            app.state.temporal = client or await connect(settings)
            yield
        finally:
            app.state.authenticator.close()

    app = FastAPI(title="Fenix", version="0.1.0", lifespan=lifespan,
                  description="Rolling infrastructure maintenance that talks to the applications. "
                              "Fenix v1 compatible. Authenticate with `X-Auth-Token` or a bearer token.")
    errors.install(app)
    # Sessions first: its `/{session_id}/detail` must win over the project route's `/{session}/{project}`.
    app.include_router(plan.router, prefix="/v1")
    app.include_router(sessions.router, prefix="/v1")
    app.include_router(projects.router, prefix="/v1")
    app.include_router(subscriptions.router, prefix="/v1")
    app.include_router(hosts.router, prefix="/v1")
    app.include_router(constraints.router, prefix="/v1")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
