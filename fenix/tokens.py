"""Static API tokens kept in a JSON file (the embedded default auth mode).

The file holds no secret: each token is stored as a salted scrypt hash (hashlib, standard library) and checked in
constant time. A token is shown once, when it is created (`fenix token create`, or the API's first start for the
admin token). Files written by Fenix 0.1 held the tokens in clear: they are hashed when loaded, and the file is
rewritten hashed where it is writable (`migrate`).

Looking a token up must stay cheap (every request) while scrypt is slow on purpose: each entry also keeps `lookup`,
the first 16 hex digits of the token's SHA-256. For a random 256-bit token that reveals nothing usable, and it
points at the one entry whose scrypt hash is then checked, so an unknown token costs no scrypt at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"  # infrastructure services: may ask about hosts and subscribe to host events

# scrypt cost: n=2**14, r=8, p=1 (16 MiB, tens of milliseconds): the interactive-login parameters of the scrypt
# paper. Stored with each hash, so they can be raised later without invalidating existing tokens.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
LOOKUP_HEX = 16


class TokenFileError(ValueError):
    """The tokens file cannot be used (not JSON, not a tokens file); the message names the file, never a secret."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def lookup_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:LOOKUP_HEX]


def hash_token(token: str, salt: bytes | None = None, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
               p: int = SCRYPT_P) -> str:
    """`scrypt$n$r$p$<salt b64>$<hash b64>` of `token`, with a new random salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM,
                            dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_hash(token: str, stored: str) -> bool:
    """Whether `token` matches `stored` (from hash_token); the comparison is constant-time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(token.encode("utf-8", "surrogatepass"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=SCRYPT_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return secrets.compare_digest(got, expected)


class TokenEntry(BaseModel):
    name: str
    project_id: str
    roles: list[str] = Field(default_factory=list)
    lookup: str = ""  # first hex digits of the token's SHA-256: which entry to check (not a secret)
    hash: str = ""  # scrypt$n$r$p$salt$digest
    token: str | None = Field(None, exclude=True)  # only in files of Fenix 0.1 (clear text): hashed on load

    @model_validator(mode="before")
    @classmethod
    def _hash_clear_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("token") and not data.get("hash"):
            clear = str(data["token"])
            data = {**data, "lookup": lookup_key(clear), "hash": hash_token(clear), "token": None}
        return data

    @model_validator(mode="after")
    def _complete(self) -> TokenEntry:
        if not self.hash or not self.lookup:
            raise ValueError(f"token {self.name!r} has neither `hash` nor `token`")
        return self

    def matches(self, token: str) -> bool:
        return secrets.compare_digest(self.lookup, lookup_key(token)) and verify_hash(token, self.hash)

    @classmethod
    def new(cls, *, name: str, project_id: str, roles: list[str] | None = None) -> tuple[TokenEntry, str]:
        """A new entry and its secret (the only time the secret exists outside the caller)."""
        secret = secrets.token_urlsafe(32)
        return cls(name=name, project_id=project_id, roles=roles or [], lookup=lookup_key(secret),
                   hash=hash_token(secret)), secret


class TokenFile(BaseModel):
    tokens: list[TokenEntry] = Field(default_factory=list)
    migrated: bool = Field(False, exclude=True)  # some entries were clear text when read: write the file again

    def find(self, token: str) -> TokenEntry | None:
        key = lookup_key(token)
        # Usually one candidate; scrypt only for entries whose lookup key matches (constant-time compare).
        return next((t for t in self.tokens if secrets.compare_digest(t.lookup, key) and verify_hash(token, t.hash)),
                    None)

    def for_project(self, project_id: str) -> TokenEntry | None:
        return next((t for t in self.tokens if t.project_id == project_id and ADMIN_ROLE not in t.roles), None)

    def admin(self) -> TokenEntry | None:
        return next((t for t in self.tokens if ADMIN_ROLE in t.roles), None)


def parse(text: str, path: Path) -> TokenFile:
    """A tokens file's text; TokenFileError when it is not one. Clear-text (0.1) entries are hashed."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise TokenFileError(f"the tokens file {path} is not valid JSON (line {err.lineno}, column {err.colno})") \
            from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens", []), list):
        raise TokenFileError(f"the tokens file {path} is not a Fenix tokens file: expected {{\"tokens\": [...]}}")
    clear = any(isinstance(t, dict) and t.get("token") and not t.get("hash") for t in raw.get("tokens", []))
    try:
        data = TokenFile.model_validate({"tokens": raw.get("tokens", [])})
    except ValidationError as err:
        # Only where and what kind: the values may be secrets.
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in err.errors())
        raise TokenFileError(f"the tokens file {path} is not a valid Fenix tokens file ({where})") from None
    data.migrated = clear
    return data


def load(path: Path) -> TokenFile:
    """The tokens file (an empty one if there is none). Raises TokenFileError for a file that is not one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return TokenFile()
    return parse(text, path)


def save(path: Path, data: TokenFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data.model_dump(), f, indent=2)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def migrate(path: Path) -> bool:
    """Rewrite a clear-text (0.1) tokens file hashed. True if it was rewritten; OSError if it cannot be written."""
    data = load(path)
    if not data.migrated:
        return False
    save(path, data)
    return True


@dataclass(frozen=True)
class Issued:
    """A token just created: its entry (as stored) and its secret, which is not stored anywhere."""

    entry: TokenEntry
    token: str


def ensure_admin(path: Path, admin_project_id: str) -> Issued | None:
    """Create the file with an admin token if it has none; the new token, or None if there was one."""
    data = load(path)
    if data.admin() is not None:
        if data.migrated:
            _try_migrate(path, data)
        return None
    entry, secret = TokenEntry.new(name="admin", project_id=admin_project_id, roles=[ADMIN_ROLE])
    data.tokens.append(entry)
    save(path, data)
    return Issued(entry, secret)


def _try_migrate(path: Path, data: TokenFile) -> None:
    try:
        save(path, data)
    except OSError:
        pass  # a read-only file (a mounted secret): hashed in memory; the API logs it


def add(path: Path, *, project_id: str, name: str | None = None, roles: list[str] | None = None,
        replace: bool = False) -> Issued:
    """Add a token. A token of the same name and project already there is an error (its secret is not known any
    more), unless `replace`: then it gets a new secret and the old one stops working."""
    data = load(path)
    label = name or project_id
    existing = next((t for t in data.tokens if t.name == label and t.project_id == project_id), None)
    if existing is not None:
        if not replace:
            raise TokenFileError(f"project {project_id} already has a token named {label!r} in {path}")
        data.tokens.remove(existing)
    entry, secret = TokenEntry.new(name=label, project_id=project_id, roles=roles)
    data.tokens.append(entry)
    save(path, data)
    return Issued(entry, secret)
