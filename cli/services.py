"""`fenix api`, `fenix worker` and `fenix setup`: running Fenix itself on this machine.

The root app registers these functions as its commands. They import uvicorn, the API, the worker and the
Temporal SDK only when they run: no other command needs them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli.config import load_settings
from cli.output import fail, out
from fenix.settings import Settings


def run_api(
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the REST API with uvicorn on FENIX_API_HOST:FENIX_API_PORT.

    It serves at once; until Temporal is reachable (up to FENIX_TEMPORAL_CONNECT_TIMEOUT_S, then it exits with 3)
    /readyz and every /v1 call answer 503."""
    settings = load_settings()
    import uvicorn

    from api.app import create_app
    from fenix.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    # log_config=None: uvicorn's lines go through Fenix's logging (FENIX_LOG_FORMAT), not its own handlers.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level=log_level,
                log_config=None)


def run_worker() -> None:
    """Run a worker on FENIX_TASK_QUEUE (as many as you like; they share nothing but Temporal).

    Started before Temporal, it waits up to FENIX_TEMPORAL_CONNECT_TIMEOUT_S for it, then exits with 1."""
    settings = load_settings()
    import worker

    worker.main(settings)


async def _setup(settings: Settings) -> list[str]:
    """Register the missing search attributes; returns one line per attribute. Fails on a type clash."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from fenix.constants import SEARCH_ATTRIBUTES
    from fenix.temporal import connect
    from fenix.temporal import search_attribute_type_name as type_name
    from fenix.temporal_security import TemporalSettingsError

    where = f"namespace {settings.temporal_namespace} at {settings.temporal_address}"
    try:
        client = await connect(settings)
    except (RuntimeError, TemporalSettingsError) as exc:
        fail(f"cannot connect to Temporal at {settings.temporal_address}: {exc}")

    async def existing() -> dict[str, int]:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=settings.temporal_namespace))
        return dict(listed.custom_attributes)

    try:
        have = await existing()
        clashes = [f"{k.name} exists as {type_name(have[k.name])}, Fenix needs "
                   f"{type_name(k.indexed_value_type)}" for k in SEARCH_ATTRIBUTES
                   if k.name in have and have[k.name] != k.indexed_value_type]
        if clashes:
            # Sessions would start but never be found by state or host: refuse rather than half-work.
            fail(f"{where}: {'; '.join(clashes)}. Remove it (temporal operator search-attribute remove) "
                 "or use another namespace.")
        missing = [k for k in SEARCH_ATTRIBUTES if k.name not in have]
        if missing:
            try:
                await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
                    namespace=settings.temporal_namespace,
                    search_attributes={k.name: k.indexed_value_type for k in missing}))  # type: ignore[misc]
            except RPCError as exc:
                # Another `fenix setup` may have won the race; what counts is that the types are right now.
                if exc.status != RPCStatusCode.ALREADY_EXISTS:
                    raise
                have = await existing()
                wrong = [k.name for k in missing if have.get(k.name) != k.indexed_value_type]
                if wrong:
                    fail(f"{where}: search attribute(s) {', '.join(wrong)} appeared with another type meanwhile")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"{where}: the namespace does not exist; create it first "
                 f"(temporal operator namespace create -n {settings.temporal_namespace})")
        fail(f"{where}: Temporal refused: {exc.message}")
    return [f"{k.name} ({type_name(k.indexed_value_type)}): "
            f"{'registered' if k in missing else 'already registered'}" for k in SEARCH_ATTRIBUTES]


def setup() -> None:
    """Register Fenix's search attributes on FENIX_TEMPORAL_NAMESPACE. Safe to run again."""
    settings = load_settings()
    lines = asyncio.run(_setup(settings))
    for line in lines:
        out.print(line, highlight=False)
    out.print(f"Namespace {settings.temporal_namespace} at {settings.temporal_address} is ready for Fenix.",
              highlight=False)
