"""`fenix session`: list, show, start, watch and abort maintenance sessions through the REST API (pause, resume,
retry, skip and reschedule: cli/steer.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict
from rich.table import Table
from rich.text import Text

from cli.client import DEFAULT_TIMEOUT_S, ApiError, TimeoutOption, TokenOption, UrlOption, api_client, segment
from cli.detail import render_detail
from cli.output import err, fail, out, state_text
from cli.session_args import parse_actions, parse_hosts, parse_metadata, parse_reply_windows
from cli.steer import register as register_steering
from cli.watch import follow
from fenix.models.session import ActionType, InstanceAction, ReplyWindows, SessionDetail, SessionStatus

session_app = typer.Typer(no_args_is_help=True, help="Maintenance sessions, through the REST API.")


class _SessionList(BaseModel):
    sessions: list[str]


class _Started(BaseModel):
    session_id: str


class _Any(BaseModel):
    model_config = ConfigDict(extra="allow")


@session_app.command("list")
def session_list(
    long: Annotated[bool, typer.Option("--long", "-l", help="Also show each session's state and "
                                                            "progress.")] = False,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Ids of all known sessions, newest first."""
    with api_client(url, token, http_timeout) as api:
        found = api.call("GET", "/maintenance", _SessionList)
        if not found.sessions:
            err.print("No sessions.")
            return
        if not long:
            for sid in found.sessions:
                typer.echo(sid)
            return
        table = Table()
        for col in ("session", "state", "hosts", "now"):
            table.add_column(col)
        for sid in found.sessions:
            try:
                st = api.call("GET", f"/maintenance/{segment(sid)}", SessionStatus)
            except ApiError as exc:
                if exc.status is None:
                    raise  # the API itself is gone: nothing more to list
                # One session that cannot answer now (its worker gone, Temporal slow) must not hide the others.
                table.add_row(sid, Text("unknown", style="yellow"), "", str(exc))
                continue
            state = state_text(st.state) + (Text(" PAUSED", style="bold yellow") if st.paused else Text(""))
            table.add_row(sid, state, f"{st.hosts_maintained}/{st.hosts_total}", st.current)
        out.print(table)


@session_app.command("show")
def session_show(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    history: Annotated[int, typer.Option("--history", "-n", min=0, help="Also show the last N entries of "
                                                                        "the session's history.")] = 0,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """A session's state, hosts and projects."""
    with api_client(url, token, http_timeout) as api:
        render_detail(api.call("GET", f"/maintenance/{segment(session_id)}/detail", SessionDetail), history)


@session_app.command("start")
def session_start(
    host: Annotated[list[str] | None, typer.Option(
        "--host", "-H", metavar="HOST",
        help="Host to maintain; repeat it or separate names with commas.")] = None,
    all_hosts: Annotated[bool, typer.Option(
        "--all-hosts", help="Maintain every compute host (instead of --host).")] = False,
    workflow: Annotated[str, typer.Option(help="Session workflow (the API lists the available ones if this "
                                               "one is unknown).")] = "default",
    at: Annotated[str | None, typer.Option(
        "--at", metavar="TIME", show_default=False,
        help="When maintenance starts: 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601. Default: now.")] = None,
    reply_window: Annotated[list[str] | None, typer.Option(
        "--reply-window", metavar="NAME=SECONDS",
        help=f"Seconds a project has to answer, NAME one of {', '.join(ReplyWindows.model_fields)}. "
             "Repeatable.")] = None,
    action: Annotated[list[str] | None, typer.Option(
        "--action", metavar="PLUGIN:TYPE[:JSON]",
        help=f"Action plug-in, TYPE one of {', '.join(t.value for t in ActionType)}, optional JSON metadata; "
             "repeatable, run in the order given.")] = None,
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", metavar="KEY=VALUE",
        help="Told to the projects (e.g. openstack_version=2025.1). Repeatable.")] = None,
    default_action: Annotated[InstanceAction | None, typer.Option(
        show_default=False,
        help="Action for instances whose project does not choose. Default: the API's (LIVE_MIGRATE).")] = None,
    max_scale_in_rounds: Annotated[int | None, typer.Option(
        min=0, show_default=False, help="Default: the API's (3).")] = None,
    pause_after: Annotated[str | None, typer.Option(
        metavar="never|batch|N", show_default=False,
        help="Pause by itself after every maintained host (batch), or once after the first N hosts (a canary). "
             "Default: never.")] = None,
    on_failure: Annotated[str | None, typer.Option(
        metavar="fail|pause", show_default=False,
        help="On a failed host: fail the session (default), or pause it for retry / skip / abort.")] = None,
    retire: Annotated[bool, typer.Option(
        "--retire", help="Retire the hosts: empty them, then leave them disabled for good (not upgraded).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Then follow it like `session watch`.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls with --watch.")] = 2.0,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Start a maintenance session and print its id."""
    hosts = parse_hosts(host)
    if hosts and all_hosts:
        raise typer.BadParameter("give either --host or --all-hosts", param_hint="--all-hosts")
    if not hosts and not all_hosts:
        # An empty host list means the whole cloud to the API: make the operator say so.
        raise typer.BadParameter("name the hosts with --host, or pass --all-hosts for every compute host",
                                 param_hint="--host")
    body: dict[str, Any] = {
        "hosts": hosts, "workflow": workflow,
        "maintenance_at": at if at and at.lower() != "now" else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "reply_windows": parse_reply_windows(reply_window), "actions": parse_actions(action),
        "metadata": parse_metadata(metadata),
    }
    if default_action is not None:
        body["default_action"] = default_action.value
    if max_scale_in_rounds is not None:
        body["max_scale_in_rounds"] = max_scale_in_rounds
    if pause_after is not None:
        body["pause_after"] = int(pause_after) if pause_after.isdigit() else pause_after
    if on_failure is not None:
        body["on_failure"] = on_failure
    if retire:
        body["retire"] = True
    with api_client(url, token, http_timeout) as api:
        created = api.call("POST", "/maintenance", _Started, body)
        typer.echo(created.session_id)
        if not watch:
            err.print(f"Session started; follow it with: fenix session watch {created.session_id}", markup=False,
                      highlight=False)
            return
        code = follow(api, created.session_id, interval, None)
    raise typer.Exit(code)


@session_app.command("watch")
def session_watch(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 2.0,
    timeout: Annotated[float | None, typer.Option(min=0, show_default=False,
                                                  help="Give up (exit 1) after this many seconds.")] = None,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Follow a session until it ends: exit 0 on MAINTENANCE_DONE, 1 otherwise."""
    with api_client(url, token, http_timeout) as api:
        code = follow(api, session_id, interval, timeout)
    raise typer.Exit(code)


@session_app.command("abort")
def session_abort(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Abort a running session: the hosts it disabled are enabled again and the projects told."""
    path = f"/maintenance/{segment(session_id)}"
    with api_client(url, token, http_timeout) as api:
        st = api.call("GET", path, SessionStatus)
        # DELETE of an ended session erases it from Temporal; `abort` must never do that, so look first.
        # (A session that ends between the two calls is still erased: the API offers no abort-only call.)
        if st.state.terminal:
            fail(f"session {session_id} has already ended ({st.state}); nothing to abort")
        api.call("DELETE", path, _Any)
    out.print(f"Aborting session {session_id}; `fenix session watch {session_id}` follows it to the end.",
              markup=False, highlight=False)


register_steering(session_app)  # after the commands above: `fenix session --help` lists them first
