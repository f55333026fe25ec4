"""`fenix host`: hosts in planned maintenance, through the REST API (`/v1/hosts`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli.client import DEFAULT_TIMEOUT_S, TimeoutOption, TokenOption, UrlOption, api_client, segment
from cli.output import err, out
from fenix.models.hosts import HostList, HostState, HostStatus

host_app = typer.Typer(no_args_is_help=True, help="Hosts, through the REST API.")

STATE_STYLE = {HostState.DISABLED: "bold yellow", HostState.IN_MAINTENANCE: "bold yellow",
               HostState.RETIRED: "bold red", HostState.MAINTENANCE_COMPLETE: "bold green"}


# What `host status` says first: whether the host is out of service ("in maintenance", as Fenix 0.1 said) or not.
WORDS = {HostState.PLANNED: "planned", HostState.DISABLED: "in maintenance", HostState.IN_MAINTENANCE: "in maintenance",
         HostState.MAINTENANCE_COMPLETE: "back in service", HostState.CANCELLED: "maintenance cancelled",
         HostState.RETIRED: "retired"}


def _when(st: HostStatus) -> str:
    if st.expected_end is not None:
        return f"back by {st.expected_end:%Y-%m-%d %H:%M:%S} UTC"
    if st.state == HostState.PLANNED and st.maintenance_at is not None:
        return f"from {st.maintenance_at:%Y-%m-%d %H:%M:%S} UTC"
    return ""


@host_app.command("status")
def host_status(
    host: Annotated[str, typer.Argument(help="Host name.")],
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """The host's planned maintenance: state, session and window (needs an admin or service token)."""
    with api_client(url, token, http_timeout) as api:
        st = api.call("GET", f"/hosts/{segment(host)}", HostStatus)
    if st.session_id is None:
        out.print(Text(f"{st.host}: not in maintenance", style="bold green"))
        return
    words = WORDS.get(st.state, st.state.value.lower())
    line = Text(f"{st.host}: ") + Text(words, style=STATE_STYLE.get(st.state, "bold"))
    line += Text(f" ({st.state.value}, session {st.session_id}{', ' + _when(st) if _when(st) else ''})")
    out.print(line)


@host_app.command("list")
def host_list(
    state: Annotated[HostState | None, typer.Option(help="Only hosts in this state.")] = None,
    session: Annotated[str | None, typer.Option(help="Only this session's hosts.")] = None,
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Every host of the running sessions, page by page (needs an admin or service token)."""
    query = "&".join(f"{k}={segment(v)}" for k, v in (("state", state.value if state else None),
                                                      ("session_id", session)) if v)
    rows: list[HostStatus] = []
    with api_client(url, token, http_timeout) as api:
        marker: str | None = None
        while True:
            page = api.call("GET", "/hosts?" + "&".join(p for p in (query, "limit=1000",
                                                                    f"marker={segment(marker)}" if marker else "")
                                                       if p), HostList)
            rows += page.hosts
            if page.next_marker is None:
                break
            marker = page.next_marker
    if not rows:
        err.print("No host in planned maintenance.")
        return
    table = Table()
    for col in ("host", "state", "session", "window"):
        table.add_column(col)
    for st in rows:
        table.add_row(st.host, Text(st.state.value, style=STATE_STYLE.get(st.state, "bold")), st.session_id or "",
                      _when(st))
    out.print(table)
