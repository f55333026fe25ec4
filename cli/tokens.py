"""`fenix token`: the API tokens in the token file, edited directly on the API's machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.config import load_settings
from cli.output import err, fail, out
from fenix import tokens

token_app = typer.Typer(no_args_is_help=True, help="API tokens in the token file (on the API's machine).")


def _read_tokens(path: Path) -> tokens.TokenFile:
    try:
        return tokens.load(path)
    except OSError as exc:
        fail(f"cannot read the token file {path}: {exc.strerror or exc}")
    except tokens.TokenFileError as exc:
        fail(str(exc))


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
        # Only a hash is stored: the existing token's secret cannot be shown again, and must not be replaced silently.
        fail(f"project {project} already has a token named {label!r} in {path}; "
             "pass --name to create another one")
    roles = ([tokens.ADMIN_ROLE] if admin else []) + ([tokens.SERVICE_ROLE] if service else [])
    try:
        issued = tokens.add(path, project_id=project, name=name, roles=roles)
    except OSError as exc:
        fail(f"cannot write the token file {path}: {exc.strerror or exc}")
    typer.echo(issued.token)
    err.print(f"Token {label!r} for project {project} (roles: {', '.join(roles) or 'none'}) saved in {path}. "
              "This is the only time the secret is shown.", highlight=False, markup=False)


@token_app.command("list")
def token_list() -> None:
    """List tokens: names, projects and roles. The file keeps only salted hashes: no secret can be shown."""
    settings = load_settings()
    path = settings.tokens_path
    data = _read_tokens(path)
    if not data.tokens:
        err.print(f"No tokens in {path} (the API creates the admin token on its first start).", markup=False)
        return
    table = Table(title=str(path))
    for col in ("name", "project", "roles", "lookup"):
        table.add_column(col)
    for t in data.tokens:
        table.add_row(t.name, t.project_id, ", ".join(t.roles) or "-", t.lookup[:8])
    out.print(table)
    if data.migrated:
        err.print(f"{path} still holds clear-text tokens: run `fenix token migrate`.", markup=False)


@token_app.command("migrate")
def token_migrate() -> None:
    """Rewrite a tokens file of Fenix 0.1 (clear-text tokens) with salted hashes. The tokens keep working."""
    settings = load_settings()
    path = settings.tokens_path
    _read_tokens(path)
    try:
        changed = tokens.migrate(path)
    except OSError as exc:
        fail(f"cannot write the token file {path}: {exc.strerror or exc}")
    err.print(f"{path}: {'rewritten with salted hashes' if changed else 'already hashed, nothing to do'}.",
              markup=False)
