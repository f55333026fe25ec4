"""`fenix token`: the API tokens in the token file, edited directly on the API's machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from fenix import tokens
from fenix.cli.config import load_settings
from fenix.cli.output import err, fail, out

token_app = typer.Typer(no_args_is_help=True, help="API tokens in the token file (on the API's machine).")


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
