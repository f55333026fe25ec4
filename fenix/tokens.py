"""Static API tokens kept in a JSON file (the embedded default auth mode).

The file is created on first run with one admin token; project tokens are added with
`fenix token create --project ID`. It holds secrets, so it is written with mode 0600 and its
contents are never logged.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"  # infrastructure services: may ask about hosts and subscribe to host events


class TokenEntry(BaseModel):
    token: str
    name: str
    project_id: str
    roles: list[str] = Field(default_factory=list)


class TokenFile(BaseModel):
    tokens: list[TokenEntry] = Field(default_factory=list)

    def find(self, token: str) -> TokenEntry | None:
        # Constant-time comparison so a caller cannot learn a token byte by byte.
        return next((t for t in self.tokens if secrets.compare_digest(t.token, token)), None)

    def for_project(self, project_id: str) -> TokenEntry | None:
        return next((t for t in self.tokens if t.project_id == project_id and ADMIN_ROLE not in t.roles), None)

    def admin(self) -> TokenEntry | None:
        return next((t for t in self.tokens if ADMIN_ROLE in t.roles), None)


def load(path: Path) -> TokenFile:
    return TokenFile.model_validate_json(path.read_text()) if path.exists() else TokenFile()


def save(path: Path, data: TokenFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data.model_dump(), f, indent=2)
    tmp.replace(path)


def ensure_admin(path: Path, admin_project_id: str) -> TokenFile:
    """Create the file with an admin token if it has none."""
    data = load(path)
    if data.admin() is None:
        data.tokens.append(TokenEntry(token=secrets.token_urlsafe(32), name="admin", project_id=admin_project_id,
                                      roles=[ADMIN_ROLE]))
        save(path, data)
    return data


def add(path: Path, *, project_id: str, name: str | None = None, roles: list[str] | None = None) -> TokenEntry:
    """Add a token (or return the existing one for the same name and project)."""
    data = load(path)
    label = name or project_id
    existing = next((t for t in data.tokens if t.name == label and t.project_id == project_id), None)
    if existing is not None:
        return existing
    entry = TokenEntry(token=secrets.token_urlsafe(32), name=label, project_id=project_id, roles=roles or [])
    data.tokens.append(entry)
    save(path, data)
    return entry
