"""The operator's command line: `fenix token | api | worker | setup | session | host`.

`token`, `api`, `worker` and `setup` act on this machine with the FENIX_* settings. `session` and `host` are
plain clients of the REST API over HTTP: they need only the API's URL and a token, so they work from any
machine that can reach the API, and they see exactly what every other API client sees.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import quote

import httpx
import typer
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fenix import tokens
from fenix.models.session import (
    ActionType,
    InstanceAction,
    ReplyWindows,
    SessionDetail,
    SessionState,
    SessionStatus,
)
from fenix.settings import Settings

app = typer.Typer(name="fenix", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Fenix: rolling cloud maintenance that talks to the applications.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens in the token file (on the API's machine).")
session_app = typer.Typer(no_args_is_help=True, help="Maintenance sessions, through the REST API.")
host_app = typer.Typer(no_args_is_help=True, help="Hosts, through the REST API.")
app.add_typer(token_app, name="token")
app.add_typer(session_app, name="session")
app.add_typer(host_app, name="host")

out = Console()
# Errors and notes go to stderr so that stdout carries only what scripts capture (a token, a session id), and
# unwrapped: a message naming a URL or a path must not break across lines in a log.
err = Console(stderr=True, soft_wrap=True)

M = TypeVar("M", bound=BaseModel)

STATE_STYLE = {SessionState.MAINTENANCE_DONE: "bold green", SessionState.MAINTENANCE_FAILED: "bold red"}
DEFAULT_TIMEOUT_S = 30.0


def fail(message: str, code: int = 1) -> NoReturn:
    # Text, not markup: API messages quote user input, and brackets in it must print as they are.
    err.print(Text("error: ", style="bold red") + Text(message, style="red"))
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        # Not the cached get_settings(): each command reads the environment as it is when it runs.
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"FENIX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid setting: {problems}")


def state_text(state: SessionState) -> Text:
    return Text(str(state), style=STATE_STYLE.get(state, "bold yellow"))


# --- tokens ------------------------------------------------------------------------------------------------


def _read_tokens(path: Path) -> tokens.TokenFile:
    try:
        return tokens.load(path)
    except OSError as exc:
        fail(f"cannot read the token file {path}: {exc.strerror or exc}")
    except ValidationError:
        fail(f"the token file {path} is not a valid Fenix token file")


def _mask(secret: str) -> str:
    # Enough to tell tokens apart, far too little to use one.
    return f"{secret[:4]}…" if len(secret) > 12 else "…"


@token_app.command("create")
def token_create(
    project: Annotated[str, typer.Option("--project", "-p", help="Project (tenant) id the token acts for.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the token the admin role (sessions, all "
                                                        "projects).")] = False,
    service: Annotated[bool, typer.Option("--service", help="Give the token the service role (host status, "
                                                            "host events), for infrastructure services.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Label of the token; default: the project id. "
                                                            "A project may hold several tokens with different "
                                                            "names.")] = None,
) -> None:
    """Create a token and print it. The secret is shown only this once; store it now."""
    settings = load_settings()
    path = settings.tokens_path
    label = name or project
    if not project.strip() or not label.strip():
        fail("the project id and the name must not be empty")
    data = _read_tokens(path)
    if any(t.name == label and t.project_id == project for t in data.tokens):
        # tokens.add would hand back the existing secret; a CLI that prints secrets on demand defeats "shown once".
        fail(f"project {project} already has a token named {label!r} in {path}; "
             "pass --name to create another one")
    roles = ([tokens.ADMIN_ROLE] if admin else []) + ([tokens.SERVICE_ROLE] if service else [])
    try:
        entry = tokens.add(path, project_id=project, name=name, roles=roles)
    except OSError as exc:
        fail(f"cannot write the token file {path}: {exc.strerror or exc}")
    typer.echo(entry.token)
    err.print(f"Token {label!r} for project {project} (roles: {', '.join(roles) or 'none'}) saved in {path}. "
              "This is the only time the secret is shown.", highlight=False, markup=False)


@token_app.command("list")
def token_list() -> None:
    """List tokens: names, projects and roles, with secrets masked."""
    settings = load_settings()
    path = settings.tokens_path
    data = _read_tokens(path)
    if not data.tokens:
        err.print(f"No tokens in {path} (the API creates the admin token on its first start).", markup=False)
        return
    table = Table(title=str(path))
    for col in ("name", "project", "roles", "token"):
        table.add_column(col)
    for t in data.tokens:
        table.add_row(t.name, t.project_id, ", ".join(t.roles) or "-", _mask(t.token))
    out.print(table)


# --- services ----------------------------------------------------------------------------------------------


@app.command("api")
def run_api(
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the REST API with uvicorn on FENIX_API_HOST:FENIX_API_PORT."""
    settings = load_settings()
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level=log_level)


@app.command("worker")
def run_worker() -> None:
    """Run a worker on FENIX_TASK_QUEUE (as many as you like; they share nothing but Temporal)."""
    settings = load_settings()
    import worker

    try:
        worker.main()
    except RuntimeError as exc:
        # The Temporal SDK reports an unreachable server as a bare RuntimeError; everything else is a real bug.
        if "client connect" not in str(exc).lower():
            raise
        fail(f"cannot connect to Temporal at {settings.temporal_address}: {exc}")


def _type_name(value: int) -> str:
    from temporalio.api.enums.v1 import IndexedValueType

    # INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList, the spelling of the temporal CLI and the Temporal docs.
    raw = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_")  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in raw.split("_"))


async def _setup(settings: Settings) -> list[str]:
    """Register the missing search attributes; returns one line per attribute. Fails on a type clash."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from fenix.constants import SEARCH_ATTRIBUTES
    from fenix.temporal import connect

    where = f"namespace {settings.temporal_namespace} at {settings.temporal_address}"
    try:
        client = await connect(settings)
    except RuntimeError as exc:
        fail(f"cannot connect to Temporal at {settings.temporal_address}: {exc}")

    async def existing() -> dict[str, int]:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=settings.temporal_namespace))
        return dict(listed.custom_attributes)

    try:
        have = await existing()
        clashes = [f"{k.name} exists as {_type_name(have[k.name])}, Fenix needs "
                   f"{_type_name(k.indexed_value_type)}" for k in SEARCH_ATTRIBUTES
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
    return [f"{k.name} ({_type_name(k.indexed_value_type)}): "
            f"{'registered' if k in missing else 'already registered'}" for k in SEARCH_ATTRIBUTES]


@app.command("setup")
def setup() -> None:
    """Register Fenix's search attributes on FENIX_TEMPORAL_NAMESPACE. Safe to run again."""
    settings = load_settings()
    lines = asyncio.run(_setup(settings))
    for line in lines:
        out.print(line, highlight=False)
    out.print(f"Namespace {settings.temporal_namespace} at {settings.temporal_address} is ready for Fenix.",
              highlight=False)


# --- the REST API client -----------------------------------------------------------------------------------


class ApiError(Exception):
    """A failed call. `status` is None when no HTTP answer came back at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def transient(self) -> bool:
        # Worth retrying while watching: the API restarting, or Temporal briefly unavailable behind it.
        return self.status is None or self.status >= 500


class Api:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"X-Auth-Token": token, "User-Agent": "fenix-cli"})

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, model: type[M], body: dict[str, Any] | None = None) -> M:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot connect to the Fenix API at {self.url} ({_reason(exc)}); is it running? "
                           "Pass --url or set FENIX_PUBLIC_URL") from None
        except httpx.TimeoutException:
            raise ApiError(f"the Fenix API at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"request to the Fenix API at {self.url} failed: {_reason(exc)}") from None
        if r.is_error:
            message = f"{_api_message(r)} (HTTP {r.status_code})"
            if r.status_code == 404 and _api_message(r) == "Not Found":
                # Starlette's answer for an unknown route: the URL, not the session or host, is wrong.
                message += f"; is {self.url} the Fenix API base URL (ending in /v1)?"
            raise ApiError(message, r.status_code)
        try:
            return model.model_validate(r.json())
        except ValueError:  # both a body that is not JSON and one that does not fit (ValidationError)
            raise ApiError(f"unexpected answer from {r.url}; is {self.url} the Fenix API (…/v1)?",
                           r.status_code) from None


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else text or type(exc).__name__


def _api_message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return r.reason_phrase or "request failed"


UrlOption = Annotated[str | None, typer.Option(
    "--url", help="API base URL, e.g. http://fenix:12347/v1. Default: FENIX_PUBLIC_URL, else "
                  "http://FENIX_API_HOST:FENIX_API_PORT/v1.", show_default=False)]
TokenOption = Annotated[str | None, typer.Option(
    "--token", envvar="FENIX_TOKEN", show_envvar=True, show_default=False,
    help="API token. Prefer the environment variable: other users see command lines in `ps`.")]
TimeoutOption = Annotated[float, typer.Option("--http-timeout", help="Seconds to wait for each API answer.")]


@contextmanager
def api_client(url: str | None, token: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[Api]:
    """An API client whose errors end the command with the API's message (exit 1), never a traceback."""
    base = url or load_settings().api_url
    if not token:
        fail("no API token: set FENIX_TOKEN or pass --token (`fenix token create` makes one)")
    api = Api(base, token, timeout)
    try:
        yield api
    except ApiError as exc:
        fail(exc.message)
    finally:
        api.close()


def _seg(value: str) -> str:
    # Ids and host names go into the path; quoting keeps a stray "/" or "?" from reaching another route.
    return quote(value, safe="")


class _SessionList(BaseModel):
    sessions: list[str]


class _HostStatus(BaseModel):
    host: str
    in_maintenance: bool
    sessions: list[str] = []


class _Started(BaseModel):
    session_id: str


class _Any(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- sessions ----------------------------------------------------------------------------------------------


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
            st = api.call("GET", f"/maintenance/{_seg(sid)}", SessionStatus)
            table.add_row(sid, state_text(st.state), f"{st.hosts_maintained}/{st.hosts_total}", st.current)
        out.print(table)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def render_detail(d: SessionDetail, history: int) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_row("session", d.session_id)
    head.add_row("workflow", d.workflow)
    head.add_row("state", state_text(d.state) + (Text(" (aborted)") if d.aborted else Text("")))
    if d.reason:
        head.add_row("reason", d.reason)
    head.add_row("now", d.current or "-")
    head.add_row("maintenance at", f"{_when(d.maintenance_at)} UTC")
    head.add_row("hosts maintained", f"{sum(h.maintained for h in d.hosts)}/{len(d.hosts)}")
    out.print(head)

    hosts = Table(title="hosts")
    for col in ("host", "type", "phase", "maintained", "disabled by session"):
        hosts.add_column(col)
    for h in d.hosts:
        hosts.add_row(h.name, h.type, str(h.phase), _yes_no(h.maintained), _yes_no(h.disabled_by_session))
    out.print(hosts)

    per_project: dict[str, int] = {}
    for i in d.instances:
        per_project[i.project_id] = per_project.get(i.project_id, 0) + 1
    projects = Table(title="projects")
    for col in ("project", "last state", "awaiting reply", "reply by (UTC)", "subscribed", "instances"):
        projects.add_column(col)
    for p in d.projects:
        projects.add_row(p.project_id, p.state or "-", _yes_no(p.awaiting),
                         _when(p.reply_at) if p.awaiting else "-", _yes_no(p.subscribed),
                         str(per_project.get(p.project_id, 0)))
    out.print(projects)

    if d.plugin_runs:
        runs = Table(title="action plug-ins")
        for col in ("plug-in", "type", "host", "state", "seconds", "output"):
            runs.add_column(col)
        for run in d.plugin_runs:
            runs.add_row(run.plugin, str(run.type), run.host or "-", run.state, f"{run.duration_s:.1f}", run.output)
        out.print(runs)

    if history > 0 and d.history:
        hist = Table(title=f"last {min(history, len(d.history))} of {len(d.history)} history entries")
        for col in ("at (UTC)", "kind", "state", "project", "host", "detail"):
            hist.add_column(col)
        for e in d.history[-history:]:
            hist.add_row(_when(e.at), e.kind, e.state or "", e.project_id or "", e.host or "", e.detail)
        out.print(hist)


@session_app.command("show")
def session_show(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    history: Annotated[int, typer.Option("--history", "-n", min=0, help="Also show the last N entries of "
                                                                        "the session's history.")] = 0,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """A session's state, hosts and projects."""
    with api_client(url, token, http_timeout) as api:
        render_detail(api.call("GET", f"/maintenance/{_seg(session_id)}/detail", SessionDetail), history)


def _split_values(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


def _reply_windows(values: list[str] | None) -> dict[str, float]:
    windows: dict[str, float] = {}
    for raw in values or []:
        name, sep, seconds = raw.partition("=")
        key = name.strip().replace("-", "_")
        # Checked here as well as by the API: a usage error names the valid windows before anything is sent.
        if not sep or key not in ReplyWindows.model_fields:
            raise typer.BadParameter(f"{raw!r}: expected NAME=SECONDS with NAME one of "
                                     f"{', '.join(ReplyWindows.model_fields)}", param_hint="--reply-window")
        try:
            windows[key] = float(seconds)
        except ValueError:
            raise typer.BadParameter(f"{raw!r}: {seconds!r} is not a number of seconds",
                                     param_hint="--reply-window") from None
    return windows


def _actions(values: list[str] | None) -> list[dict[str, Any]]:
    types = ", ".join(t.value for t in ActionType)
    specs: list[dict[str, Any]] = []
    for raw in values or []:
        plugin, _, rest = raw.partition(":")
        kind, _, meta = rest.partition(":")
        if not plugin or kind not in {t.value for t in ActionType}:
            raise typer.BadParameter(f"{raw!r}: expected PLUGIN:TYPE[:JSON] with TYPE one of {types}",
                                     param_hint="--action")
        spec: dict[str, Any] = {"plugin": plugin, "type": kind}
        if meta:
            try:
                spec["metadata"] = json.loads(meta)
            except ValueError:
                raise typer.BadParameter(f"{raw!r}: the metadata after TYPE: must be a JSON object",
                                         param_hint="--action") from None
            if not isinstance(spec["metadata"], dict):
                raise typer.BadParameter(f"{raw!r}: the metadata must be a JSON object", param_hint="--action")
        specs.append(spec)
    return specs


def _metadata(values: list[str] | None) -> dict[str, str]:
    meta: dict[str, str] = {}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{raw!r}: expected KEY=VALUE", param_hint="--metadata")
        meta[key.strip()] = value
    return meta


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
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Then follow it like `session watch`.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls with --watch.")] = 2.0,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Start a maintenance session and print its id."""
    hosts = _split_values(host)
    if hosts and all_hosts:
        raise typer.BadParameter("give either --host or --all-hosts", param_hint="--all-hosts")
    if not hosts and not all_hosts:
        # An empty host list means the whole cloud to the API: make the operator say so.
        raise typer.BadParameter("name the hosts with --host, or pass --all-hosts for every compute host",
                                 param_hint="--host")
    body: dict[str, Any] = {
        "hosts": hosts, "workflow": workflow,
        "maintenance_at": at if at and at.lower() != "now" else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "reply_windows": _reply_windows(reply_window), "actions": _actions(action), "metadata": _metadata(metadata),
    }
    if default_action is not None:
        body["default_action"] = default_action.value
    if max_scale_in_rounds is not None:
        body["max_scale_in_rounds"] = max_scale_in_rounds
    with api_client(url, token, http_timeout) as api:
        created = api.call("POST", "/maintenance", _Started, body)
        typer.echo(created.session_id)
        if not watch:
            err.print(f"Session started; follow it with: fenix session watch {created.session_id}", markup=False,
                      highlight=False)
            return
        code = follow(api, created.session_id, interval, None)
    raise typer.Exit(code)


def _progress(st: SessionStatus) -> Text:
    return (state_text(st.state) + Text(f"  {st.hosts_maintained}/{st.hosts_total} hosts  ")
            + Text(st.current or ""))


def follow(api: Api, session_id: str, interval: float, timeout: float | None) -> int:
    """Poll until the session ends; 0 for MAINTENANCE_DONE, 1 otherwise. Raises ApiError when it must stop."""
    path = f"/maintenance/{_seg(session_id)}"
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, int, str] | None = None
    outage = False
    try:
        with out.status(f"watching session {session_id}") as spinner:
            while True:
                try:
                    st = api.call("GET", path, SessionStatus)
                except ApiError as exc:
                    # Before the first answer an error means a wrong URL, token or id: say so at once. Later, a
                    # long session must outlive an API restart, so keep polling through transient failures.
                    if last is None or not exc.transient:
                        raise
                    if not outage:
                        err.print(Text(f"warning: {exc.message}; retrying", style="yellow"))
                        outage = True
                else:
                    outage = False
                    key = (str(st.state), st.hosts_maintained, st.current)
                    if key != last:
                        # A line per change, not just the spinner: logs and CI output keep the story.
                        out.print(Text(datetime.now(UTC).strftime("%H:%M:%S  ")) + _progress(st))
                        spinner.update(_progress(st))
                        last = key
                    if st.state.terminal:
                        break
                if deadline is not None and time.monotonic() > deadline:
                    raise ApiError(f"session {session_id} still {last[0] if last else 'unknown'} after "
                                   f"{timeout:g} s; it goes on (fenix session watch {session_id})")
                time.sleep(interval)
    except KeyboardInterrupt:
        err.print(f"Stopped watching; session {session_id} goes on.", markup=False, highlight=False)
        return 130
    summary = f"session {session_id} {st.state}: {st.hosts_maintained}/{st.hosts_total} hosts maintained"
    if st.reason:
        summary += f" ({st.reason})"
    style = STATE_STYLE.get(st.state, "bold")
    (out if st.state == SessionState.MAINTENANCE_DONE else err).print(Text(summary, style=style))
    return 0 if st.state == SessionState.MAINTENANCE_DONE else 1


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
    path = f"/maintenance/{_seg(session_id)}"
    with api_client(url, token, http_timeout) as api:
        st = api.call("GET", path, SessionStatus)
        # DELETE of an ended session erases it from Temporal; `abort` must never do that, so look first.
        # (A session that ends between the two calls is still erased: the API offers no abort-only call.)
        if st.state.terminal:
            fail(f"session {session_id} has already ended ({st.state}); nothing to abort")
        api.call("DELETE", path, _Any)
    out.print(f"Aborting session {session_id}; `fenix session watch {session_id}` follows it to the end.",
              markup=False, highlight=False)


# --- hosts -------------------------------------------------------------------------------------------------


@host_app.command("status")
def host_status(
    host: Annotated[str, typer.Argument(help="Host name.")],
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Is the host out of service for planned maintenance? (needs an admin or service token)"""
    with api_client(url, token, http_timeout) as api:
        st = api.call("GET", f"/hosts/{_seg(host)}", _HostStatus)
    if st.in_maintenance:
        out.print(Text(f"{st.host}: in maintenance", style="bold yellow")
                  + Text(f" (session {', '.join(st.sessions)})"))
    else:
        out.print(Text(f"{st.host}: not in maintenance", style="bold green"))


if __name__ == "__main__":
    app(prog_name="fenix")
