"""`fenix session export ID > file.json`: a session's whole record as JSON, to keep beyond Temporal's retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from cli.client import DEFAULT_TIMEOUT_S, TimeoutOption, TokenOption, UrlOption, api_client, segment
from cli.output import fail
from cli.sessions import session_app
from fenix.models.session import SessionDetail

RECORD_FORMAT = "fenix-session-record/1"


@session_app.command("export")
def session_export(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    running: Annotated[bool, typer.Option("--running", help="Export a session that still runs (its record is not "
                                                            "final yet).")] = False,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Print a finished session's record as JSON: hosts, projects, instances, plug-in runs, and its whole history
    (notices, replies, defaults, actions, who started and aborted it). Needs an admin token."""
    with api_client(url, token, http_timeout) as api:
        detail = api.call("GET", f"/maintenance/{segment(session_id)}/detail", SessionDetail)
    if not detail.state.terminal and not running:
        fail(f"session {session_id} still runs ({detail.state}): its record is not final; wait for it to end, or "
             "pass --running")
    record = {"format": RECORD_FORMAT, "exported_at": datetime.now(UTC).isoformat(),
              "session": detail.model_dump(mode="json")}
    typer.echo(json.dumps(record, indent=2))
