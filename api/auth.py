"""Who is calling: a token from `X-Auth-Token` or `Authorization: Bearer`, looked up in the token file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from fenix import tokens
from fenix.tokens import ADMIN_ROLE, SERVICE_ROLE


class Principal(BaseModel):
    name: str
    project_id: str
    roles: list[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        return self.is_admin or SERVICE_ROLE in self.roles

    def may_act_for(self, project_id: str) -> bool:
        return self.is_admin or self.project_id == project_id


class TokenAuthenticator:
    """Reads the token file again when it changes, so `fenix token create` needs no API restart."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime: float | None = None
        self._data = tokens.TokenFile()

    def authenticate(self, token: str) -> Principal | None:
        if not token.isascii():
            # Tokens are URL-safe ASCII, and the constant-time comparison raises on anything else (a 500).
            return None
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._mtime:
            self._data, self._mtime = tokens.load(self._path), mtime
        entry = self._data.find(token)
        return Principal(name=entry.name, project_id=entry.project_id, roles=entry.roles) if entry else None
