"""The caller, and what every authenticator shares: its errors, its protocol, and how a token is known without being
kept (its SHA-256)."""

from __future__ import annotations

import hashlib
from typing import Protocol

from pydantic import BaseModel

from fenix.tokens import ADMIN_ROLE, SERVICE_ROLE

INVALID_TOKEN = "invalid token"
MAX_TOKEN_CHARS = 8192  # Fernet tokens are ~200 characters, JWS ones under 1 KiB


class Principal(BaseModel):
    name: str
    project_id: str
    roles: list[str]  # Fenix roles: `admin`, `service` (in keystone mode mapped from the configured Keystone roles)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        return self.is_admin or SERVICE_ROLE in self.roles

    def may_act_for(self, project_id: str) -> bool:
        return self.is_admin or self.project_id == project_id

    @property
    def scope(self) -> str | None:
        """The project this caller's reads and writes are limited to; None (everything) for the admin."""
        return None if self.is_admin else self.project_id


class AuthRejected(Exception):
    """The token is not good (401); `reason` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthUnavailable(Exception):
    """The token could not be checked now (503): Keystone is down, slow, or refuses Fenix's own credentials."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthConfigError(RuntimeError):
    """The auth settings are incomplete or wrong; the API refuses to start."""


class Authenticator(Protocol):
    challenge: str  # the WWW-Authenticate value sent with a 401

    async def verify(self, token: str) -> Principal:
        """The caller behind `token`; raises AuthRejected (401) or AuthUnavailable (503)."""
        ...

    async def check(self) -> str:
        """Readiness (`/readyz`): what the authenticator relies on is usable now. Raises fenix.health.NotReady."""
        ...

    def close(self) -> None: ...


def fingerprint(token: str) -> str:
    """What logs and the cache know a token by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
