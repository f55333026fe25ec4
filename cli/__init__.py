"""The operator's command line: `fenix token | api | worker | setup | session | host`.

`token`, `api`, `worker` and `setup` act on this machine with the FENIX_* settings. `session` and `host` are
plain clients of the REST API over HTTP: they need only the API's URL and a token, so they work from any
machine that can reach the API, and they see exactly what every other API client sees.

This module only assembles the root `app` (the `fenix` console script) from the command modules.
"""

from __future__ import annotations

import typer

from cli import export  # noqa: F401 (registers `fenix session export` on the session commands)
from cli.hosts import host_app
from cli.services import run_api, run_worker, setup
from cli.sessions import session_app
from cli.tokens import token_app

__all__ = ["app"]

app = typer.Typer(name="fenix", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Fenix: rolling cloud maintenance that talks to the applications.")
app.add_typer(token_app, name="token")
app.add_typer(session_app, name="session")
app.add_typer(host_app, name="host")
app.command("api")(run_api)
app.command("worker")(run_worker)
app.command("setup")(setup)
