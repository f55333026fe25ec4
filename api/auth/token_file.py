"""`FENIX_AUTH_MODE=tokens` (the default): static tokens in the tokens file (fenix/tokens.py), read again when it
changes."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from api.auth.principal import INVALID_TOKEN, MAX_TOKEN_CHARS, AuthConfigError, AuthRejected, Principal, fingerprint
from fenix import tokens
from fenix.health import NotReady

log = logging.getLogger("fenix.api.auth")

KEPT_NOTE = " (the last good tokens stay in force until it is fixed)"


class TokenAuthenticator:
    """Reads the token file again when it changes, so `fenix token create` needs no API restart.

    A file that cannot be used at start-up stops the API (AuthConfigError, with the reason). One that breaks later
    (a bad edit) is logged, and the last good tokens stay in force until the file is fixed. Tokens are stored as
    scrypt hashes (fenix/tokens.py); a token that passed the check is remembered by its SHA-256 until the file
    changes, so scrypt runs once per token, not on every request."""

    challenge = "Bearer"
    CACHE_SIZE = 4096

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime: float | None = None
        self._data = tokens.TokenFile()
        self._verified: OrderedDict[str, tokens.TokenEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._problem: str | None = None  # why the file on disk is not the one in force (readiness says so)
        try:
            self._mtime = path.stat().st_mtime
            self._data = tokens.load(path)
        except FileNotFoundError:
            self._problem = f"there is no tokens file {path}: no token is accepted"
        except (OSError, tokens.TokenFileError) as err:
            raise AuthConfigError(f"cannot use the tokens file (FENIX_TOKENS_FILE): {file_problem(err)}") from None
        self._migrate()

    def _migrate(self) -> None:
        if not self._data.migrated:
            return
        try:
            tokens.save(self._path, self._data)
            self._mtime = self._path.stat().st_mtime
            log.warning("the tokens file %s held clear-text tokens: rewritten with salted hashes", self._path)
        except OSError as err:
            log.warning("the tokens file %s holds clear-text tokens and cannot be rewritten (%s): they are hashed "
                        "in memory only; run `fenix token migrate` where the file is writable", self._path,
                        err.strerror or err)

    def _reload(self) -> None:
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime == self._mtime:
            return
        with self._lock:
            if mtime == self._mtime:
                return
            self._mtime = mtime
            if mtime is None:
                log.error("the tokens file %s is gone: keeping the last good tokens", self._path)
                self._problem = f"the tokens file {self._path} is gone{KEPT_NOTE}"
                return
            try:
                data = tokens.load(self._path)
            except (OSError, tokens.TokenFileError) as err:
                log.error("the tokens file %s changed but cannot be used, keeping the last good tokens: %s",
                          self._path, file_problem(err))
                self._problem = f"the tokens file cannot be used: {file_problem(err)}{KEPT_NOTE}"
                return
            self._problem = None
            self._data = data
            self._verified.clear()
            self._migrate()

    def authenticate(self, token: str) -> Principal | None:
        if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            return None  # tokens are URL-safe ASCII
        self._reload()
        key = fingerprint(token)
        with self._lock:
            entry = self._verified.get(key)
        if entry is None:
            entry = self._data.find(token)
            if entry is None:
                return None
            with self._lock:
                self._verified[key] = entry
                while len(self._verified) > self.CACHE_SIZE:
                    self._verified.popitem(last=False)
        return Principal(name=entry.name, project_id=entry.project_id, roles=entry.roles)

    def _remembered(self, token: str) -> Principal | None:
        """The principal of a token verified before, while the file is unchanged; None if it needs the full check."""
        if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            if self._path.stat().st_mtime != self._mtime:
                return None
        except OSError:
            return None
        with self._lock:
            entry = self._verified.get(fingerprint(token))
        return None if entry is None else Principal(name=entry.name, project_id=entry.project_id, roles=entry.roles)

    async def verify(self, token: str) -> Principal:
        # A token seen before is answered here: a burst of 200 requests each hopping to the thread pool and back
        # queued for the GIL behind one another, 60-330 ms each (bench/burst.py). Only scrypt (the first time a token
        # is seen, tens of milliseconds) and re-reading a changed file go to the thread pool.
        principal = self._remembered(token) or await run_in_threadpool(self.authenticate, token)
        if principal is None:
            raise AuthRejected(INVALID_TOKEN)
        return principal

    async def check(self) -> str:
        """Not ready while the file on disk cannot be used (gone, unreadable, not a tokens file), though the last
        good tokens still work meanwhile: tokens created since are refused, and the file needs fixing. Reads the
        file only when it changed, as requests do."""
        await run_in_threadpool(self._reload)
        if self._problem is not None:
            raise NotReady(self._problem)
        return f"tokens file {self._path} in use"

    def close(self) -> None:
        pass


def file_problem(err: Exception) -> str:
    """Why the tokens file cannot be used, for a log line or a refusal to start."""
    if isinstance(err, OSError):
        return f"{err.strerror or type(err).__name__}: {err.filename or ''}".rstrip(": ")
    return str(err)
