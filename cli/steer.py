"""`fenix session pause | resume | retry | skip | reschedule`: steering a running session through the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.client import DEFAULT_TIMEOUT_S, TimeoutOption, TokenOption, UrlOption, api_client, segment
from cli.output import out
from cli.session_args import parse_reply_windows
from fenix.models.steering import RescheduleResult, SteerResult

SessionArg = Annotated[str, typer.Argument(help="Session id.")]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why; shown in the session's detail.")]


def _steer(verb: str, session_id: str, reason: str, url: str | None, token: str | None, timeout: float) -> None:
    with api_client(url, token, timeout) as api:
        res = api.call("POST", f"/maintenance/{segment(session_id)}/{verb}", SteerResult, {"reason": reason})
    s = res.steering
    line = f"session {session_id}: {res.detail}"
    if s.paused:
        line += f" (paused by {s.paused_by}{': ' + s.pause_reason if s.pause_reason else ''})"
    out.print(line, markup=False, highlight=False)


def pause(session_id: SessionArg, reason: ReasonOption = "", url: UrlOption = None, token: TokenOption = None,
          http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S) -> None:
    """Pause a session: no new host or instance action starts; running ones finish; replies are still taken."""
    _steer("pause", session_id, reason, url, token, http_timeout)


def resume(session_id: SessionArg, reason: ReasonOption = "", url: UrlOption = None, token: TokenOption = None,
           http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S) -> None:
    """Resume a paused session (one parked on a failure needs retry or skip)."""
    _steer("resume", session_id, reason, url, token, http_timeout)


def retry(session_id: SessionArg, reason: ReasonOption = "", url: UrlOption = None, token: TokenOption = None,
          http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S) -> None:
    """A session parked on a failed host (on_failure: pause): maintain that host again."""
    _steer("retry", session_id, reason, url, token, http_timeout)


def skip(session_id: SessionArg, reason: ReasonOption = "", url: UrlOption = None, token: TokenOption = None,
         http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S) -> None:
    """A session parked on a failed host: leave that host disabled and go on with the others."""
    _steer("skip", session_id, reason, url, token, http_timeout)


def reschedule(
    session_id: SessionArg,
    at: Annotated[str, typer.Option("--at", metavar="TIME", help="New maintenance_at: 'YYYY-MM-DD HH:MM:SS' (UTC) "
                                                                  "or ISO 8601.")],
    reply_window: Annotated[list[str] | None, typer.Option(
        "--reply-window", metavar="NAME=SECONDS", help="New reply window; repeatable. Others keep the API's "
                                                       "defaults when any is given.")] = None,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Move the window of a session that has not started work; the projects are told the new time."""
    body: dict[str, Any] = {"maintenance_at": at}
    if reply_window:
        body["reply_windows"] = parse_reply_windows(reply_window)
    with api_client(url, token, http_timeout) as api:
        res = api.call("PUT", f"/maintenance/{segment(session_id)}", RescheduleResult, body)
    out.print(f"session {session_id} rescheduled to {res.maintenance_at:%Y-%m-%d %H:%M:%S} UTC; "
              f"{len(res.projects_notified)} project(s) told", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    for command in (pause, resume, retry, skip, reschedule):
        app.command(command.__name__)(command)
