"""How Fenix authenticates to Temporal: TLS, mutual TLS and API keys, from the FENIX_TEMPORAL_* settings.

Three shapes, the ones Temporal deployments use (docs/deployment.md#securing-the-connection-to-temporal):

- plain TCP: the bundled compose cluster, the dev server;
- TLS, optionally with a private CA (`temporal_tls_ca_file`) and a client certificate (mutual TLS, the usual way to
  secure a self-hosted cluster, and one of Temporal Cloud's two ways);
- an API key (Temporal Cloud's other way): sent as `Authorization: Bearer ...` on every call, so it needs TLS, which
  it turns on unless `FENIX_TEMPORAL_TLS=false` says otherwise (a key through a local TLS-terminating proxy).

Files are read when Fenix connects, so a problem (a missing file, a certificate without its key, a file that is
not PEM) stops the process at start with the setting's name, instead of a TLS error from the SDK's core on each try.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from temporalio.service import TLSConfig

from fenix.settings import Settings

_PEM_MARK = b"-----BEGIN "


class TemporalSettingsError(ValueError):
    """A FENIX_TEMPORAL_* security setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class ConnectSecurity:
    """What `Client.connect` takes for security: `tls` (False, True for the system's roots, or a TLSConfig) and
    `api_key`. Neither is shown by repr: the TLSConfig holds the client's private key."""

    tls: bool | TLSConfig = field(repr=False)
    api_key: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """For logs: which protections are on, never their material ("mTLS, API key", "TLS", "plaintext")."""
        parts = []
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            parts.append("mTLS")
        elif self.tls:
            parts.append("TLS")
        if self.api_key:
            parts.append("API key")
        return ", ".join(parts) or "plaintext"

    def __repr__(self) -> str:
        return f"ConnectSecurity({self.describe()})"


def _variable(name: str) -> str:
    return f"FENIX_{name.upper()}"


def _read_pem(settings: Settings, name: str) -> bytes | None:
    path: Path | None = getattr(settings, name)
    if path is None:
        return None
    try:
        data = path.expanduser().read_bytes()
    except OSError as err:
        raise TemporalSettingsError(f"{_variable(name)}: cannot read {path}: {err.strerror or err}") from None
    if _PEM_MARK not in data:
        raise TemporalSettingsError(f"{_variable(name)}: {path} is not a PEM file (no '-----BEGIN' line)")
    return data


def connect_security(settings: Settings) -> ConnectSecurity:
    """The TLS configuration and API key for `Client.connect`, from the settings.

    Raises:
        TemporalSettingsError: a file cannot be read or is not PEM, a client certificate comes without its key (or
            the reverse), or TLS is turned off while TLS files are given.
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if api_key is not None and not api_key.strip():
        raise TemporalSettingsError("FENIX_TEMPORAL_API_KEY is set but empty")
    files = ("temporal_tls_ca_file", "temporal_tls_cert_file", "temporal_tls_key_file")
    given = [name for name in files if getattr(settings, name) is not None]
    # Unset (None): on as soon as anything needs it. An API key travels as a bearer token: never in the clear
    # unless asked for explicitly.
    tls_on = settings.temporal_tls if settings.temporal_tls is not None else bool(
        given or api_key or settings.temporal_tls_server_name)
    if not tls_on:
        if given or settings.temporal_tls_server_name:
            more = [*given, "temporal_tls_server_name"] if settings.temporal_tls_server_name else given
            raise TemporalSettingsError(f"FENIX_TEMPORAL_TLS is false but {', '.join(map(_variable, more))} "
                                        "set: turn TLS on or unset them")
        return ConnectSecurity(tls=False, api_key=api_key)

    has_cert, has_key = settings.temporal_tls_cert_file is not None, settings.temporal_tls_key_file is not None
    if has_cert != has_key:
        missing, present = ("key", "cert") if has_cert else ("cert", "key")
        raise TemporalSettingsError(f"FENIX_TEMPORAL_TLS_{present.upper()}_FILE is set without "
                                    f"FENIX_TEMPORAL_TLS_{missing.upper()}_FILE: mutual TLS needs both")
    ca, cert, key = (_read_pem(settings, name) for name in files)
    if ca is None and cert is None and settings.temporal_tls_server_name is None:
        # True: the SDK's own TLS with the system's root CAs (Temporal Cloud, a publicly signed frontend).
        return ConnectSecurity(tls=True, api_key=api_key)
    return ConnectSecurity(
        tls=TLSConfig(server_root_ca_cert=ca, domain=settings.temporal_tls_server_name, client_cert=cert,
                      client_private_key=key),
        api_key=api_key)
