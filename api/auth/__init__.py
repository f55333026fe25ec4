"""Who is calling: a token from `X-Auth-Token` or `Authorization: Bearer`, checked by the configured authenticator.

- `tokens` (the default): static tokens in the token file (fenix/tokens.py), read again when it changes
  (api/auth/token_file.py).
- `keystone`: the token is validated against Keystone by Fenix's own service user, as keystonemiddleware
  does (`GET /v3/auth/tokens` with `X-Subject-Token`). Validations are cached briefly, keyed by a hash of
  the token; the raw token is never logged or kept as a key (api/auth/keystone.py).

The caller (`Principal`), the errors and the `Authenticator` protocol are in api/auth/principal.py. This module is
the package's public face: import from `api.auth`.
"""

from __future__ import annotations

import sys

from api.auth.keystone import KeystoneAuthenticator, Verdict, keystone_session
from api.auth.principal import (
    INVALID_TOKEN,
    MAX_TOKEN_CHARS,
    AuthConfigError,
    Authenticator,
    AuthRejected,
    AuthUnavailable,
    Principal,
    fingerprint,
)
from api.auth.token_file import TokenAuthenticator, file_problem
from fenix import tokens
from fenix.settings import Settings

__all__ = [
    "INVALID_TOKEN",
    "MAX_TOKEN_CHARS",
    "AuthConfigError",
    "AuthRejected",
    "AuthUnavailable",
    "Authenticator",
    "KeystoneAuthenticator",
    "Principal",
    "TokenAuthenticator",
    "Verdict",
    "fingerprint",
    "keystone_session",
    "make_authenticator",
]


def make_authenticator(settings: Settings) -> Authenticator:
    """The authenticator for FENIX_AUTH_MODE. Token mode creates the token file with an admin token if needed."""
    if settings.auth_mode == "keystone":
        return KeystoneAuthenticator.from_settings(settings)
    try:
        issued = tokens.ensure_admin(settings.tokens_path, settings.admin_project_id)
    except (OSError, tokens.TokenFileError) as err:
        raise AuthConfigError(f"cannot use the tokens file (FENIX_TOKENS_FILE): {file_problem(err)}") from None
    if issued is not None:
        # The file keeps only a hash: this is the one moment the secret exists. Straight to stderr, not through
        # logging (log shippers). Create the admin token with `fenix token create --admin` first to avoid it.
        sys.stderr.write(f"Fenix: created the admin token {issued.entry.name!r} (project {issued.entry.project_id}) "
                         f"in {settings.tokens_path}; it is shown only this once:\n{issued.token}\n")
        sys.stderr.flush()
    return TokenAuthenticator(settings.tokens_path)
