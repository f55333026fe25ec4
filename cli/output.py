"""What every command prints with: the two consoles, `fail`, and the colour of a session state."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from fenix.models.session import SessionState

out = Console()
# Errors and notes go to stderr so that stdout carries only what scripts capture (a token, a session id), and
# unwrapped: a message naming a URL or a path must not break across lines in a log.
err = Console(stderr=True, soft_wrap=True)

STATE_STYLE = {SessionState.MAINTENANCE_DONE: "bold green", SessionState.MAINTENANCE_FAILED: "bold red"}


def fail(message: str, code: int = 1) -> NoReturn:
    # Text, not markup: API messages quote user input, and brackets in it must print as they are.
    err.print(Text("error: ", style="bold red") + Text(message, style="red"))
    raise typer.Exit(code)


def state_text(state: SessionState) -> Text:
    return Text(str(state), style=STATE_STYLE.get(state, "bold yellow"))
