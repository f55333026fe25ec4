"""`fenix host`: whether a host is out of service for maintenance, through the REST API."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel
from rich.text import Text

from cli.client import DEFAULT_TIMEOUT_S, TimeoutOption, TokenOption, UrlOption, api_client, segment
from cli.output import out

host_app = typer.Typer(no_args_is_help=True, help="Hosts, through the REST API.")


class _HostStatus(BaseModel):
    host: str
    in_maintenance: bool
    sessions: list[str] = []


@host_app.command("status")
def host_status(
    host: Annotated[str, typer.Argument(help="Host name.")],
    url: UrlOption = None, token: TokenOption = None, http_timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
) -> None:
    """Is the host out of service for planned maintenance? (needs an admin or service token)"""
    with api_client(url, token, http_timeout) as api:
        st = api.call("GET", f"/hosts/{segment(host)}", _HostStatus)
    if st.in_maintenance:
        out.print(Text(f"{st.host}: in maintenance", style="bold yellow")
                  + Text(f" (session {', '.join(st.sessions)})"))
    else:
        out.print(Text(f"{st.host}: not in maintenance", style="bold green"))
