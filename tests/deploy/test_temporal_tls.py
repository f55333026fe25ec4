"""Fenix reaches a Temporal frontend over TLS, mutual TLS, and with an API key (fenix/temporal_security.py).

`temporal server start-dev` has no TLS options, so the real connections go through a TLS-terminating proxy in front
of the session's dev server: the proxy requires a client certificate from the test CA, as a self-hosted cluster
with mTLS does, and forwards the decrypted gRPC to the dev server. The certificates are made per run (pki.py).
Unusable settings must stop the worker, the API and `fenix setup` at start with the setting's name, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from demo.stack import free_port
from fenix.settings import Settings
from fenix.temporal import TemporalUnreachable, connect, connect_with_retry
from fenix.temporal_security import TemporalSettingsError, connect_security
from tests.cli.helpers import cli_env, fenix
from tests.deploy.pki import Authority, Issued

API_KEY = "fenix-test-api-key-0123456789"
SERVER_NAME = "temporal.fenix.test"  # the only name in the server's certificate: 127.0.0.1 is not


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    other_ca: Issued  # a CA that signed nothing here: trusting it instead must fail


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder, "fenix-test-ca")
    return Pki(ca.ca, ca.issue("server", dns=[SERVER_NAME]), ca.issue("fenix-worker", client=True),
               Authority(folder, "other-ca").ca)


def settings(**values: Any) -> Settings:
    """Settings from these values only: the developer's FENIX_* variables must not leak in."""
    return Settings.model_validate(values)


# --- the configuration built from the settings -------------------------------------------------------------


def test_plaintext_by_default() -> None:
    security = connect_security(settings())
    assert security.tls is False and security.api_key is None
    assert security.describe() == "plaintext"


def test_api_key_turns_tls_on_with_the_system_roots() -> None:
    security = connect_security(settings(temporal_api_key=API_KEY))
    assert security.tls is True and security.api_key == API_KEY
    assert security.describe() == "TLS, API key"
    assert API_KEY not in repr(security) and API_KEY not in repr(settings(temporal_api_key=API_KEY))


def test_api_key_without_tls_when_asked_explicitly() -> None:
    security = connect_security(settings(temporal_api_key=API_KEY, temporal_tls=False))
    assert security.tls is False and security.api_key == API_KEY


def test_tls_true_alone_uses_the_system_roots() -> None:
    assert connect_security(settings(temporal_tls=True)).tls is True


def test_mutual_tls_reads_the_files(pki: Pki) -> None:
    security = connect_security(settings(temporal_tls_ca_file=pki.ca.cert, temporal_tls_cert_file=pki.client.cert,
                                         temporal_tls_key_file=pki.client.key, temporal_tls_server_name=SERVER_NAME))
    assert security.tls == TLSConfig(server_root_ca_cert=pki.ca.cert.read_bytes(), domain=SERVER_NAME,
                                     client_cert=pki.client.cert.read_bytes(),
                                     client_private_key=pki.client.key.read_bytes())
    assert security.describe() == "mTLS"
    assert "PRIVATE KEY" not in repr(security)


def test_settings_come_from_fenix_variables(monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    monkeypatch.setenv("FENIX_TEMPORAL_TLS", "true")
    monkeypatch.setenv("FENIX_TEMPORAL_TLS_CA_FILE", str(pki.ca.cert))
    monkeypatch.setenv("FENIX_TEMPORAL_API_KEY", API_KEY)
    security = connect_security(Settings())
    assert isinstance(security.tls, TLSConfig) and security.tls.server_root_ca_cert == pki.ca.cert.read_bytes()
    assert security.api_key == API_KEY


@pytest.mark.parametrize(("values", "message"), [
    ({"temporal_tls_ca_file": "/nonexistent/ca.pem"},
     "FENIX_TEMPORAL_TLS_CA_FILE: cannot read /nonexistent/ca.pem: No such file or directory"),
    ({"temporal_tls_cert_file": "CLIENT"},
     "FENIX_TEMPORAL_TLS_CERT_FILE is set without FENIX_TEMPORAL_TLS_KEY_FILE"),
    ({"temporal_tls_key_file": "CLIENT_KEY"},
     "FENIX_TEMPORAL_TLS_KEY_FILE is set without FENIX_TEMPORAL_TLS_CERT_FILE"),
    ({"temporal_tls": False, "temporal_tls_ca_file": "CA"},
     "FENIX_TEMPORAL_TLS is false but FENIX_TEMPORAL_TLS_CA_FILE set"),
    ({"temporal_tls_ca_file": "NOT_PEM"}, "is not a PEM file"),
    ({"temporal_api_key": " "}, "FENIX_TEMPORAL_API_KEY is set but empty"),
])
def test_unusable_settings_name_the_variable(pki: Pki, tmp_path: Path, values: dict[str, Any], message: str) -> None:
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a")
    files = {"CA": pki.ca.cert, "CLIENT": pki.client.cert, "CLIENT_KEY": pki.client.key, "NOT_PEM": not_pem}
    resolved = {k: files.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(TemporalSettingsError) as raised:
        connect_security(settings(**resolved))
    assert message in str(raised.value)


async def test_connect_hands_the_security_to_the_sdk(monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    seen: dict[str, Any] = {}

    async def fake_connect(target_host: str, **kwargs: Any) -> None:
        seen.update(kwargs, target_host=target_host)

    monkeypatch.setattr(Client, "connect", fake_connect)
    await connect(settings(temporal_address="cloud:7233", temporal_api_key=API_KEY, temporal_tls_ca_file=pki.ca.cert))
    assert seen["target_host"] == "cloud:7233" and seen["api_key"] == API_KEY
    assert isinstance(seen["tls"], TLSConfig) and seen["tls"].server_root_ca_cert == pki.ca.cert.read_bytes()


async def test_the_api_key_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    unreachable = settings(temporal_address=f"127.0.0.1:{free_port()}", temporal_api_key=API_KEY,
                           temporal_connect_timeout_s=0)
    with pytest.raises(TemporalUnreachable) as raised:
        await connect_with_retry(unreachable, "test")
    assert "TLS, API key" in str(raised.value)
    assert API_KEY not in str(raised.value) + caplog.text


# --- real connections, through a TLS-terminating proxy ------------------------------------------------------


@contextlib.contextmanager
def _closing(writer: asyncio.StreamWriter) -> Iterator[None]:
    try:
        yield
    finally:
        writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with _closing(writer), contextlib.suppress(ConnectionError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@pytest_asyncio.fixture(loop_scope="session")
async def tls_frontend(dev_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[str]:
    """A mutual-TLS frontend for the dev server: yields its address (127.0.0.1:port, certificate for SERVER_NAME)."""
    upstream = dev_env.client.service_client.config.target_host
    host, port = upstream.rsplit(":", 1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca.cert))
    context.load_cert_chain(pki.server.cert, pki.server.key)
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate from this CA, no connection
    context.set_alpn_protocols(["h2"])  # gRPC: the client offers only HTTP/2

    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pump(client_reader, server_writer), _pump(server_reader, client_writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0, ssl=context)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def _mtls(pki: Pki, address: str, **overrides: Any) -> Settings:
    values = {"temporal_address": address, "temporal_namespace": "default", "temporal_tls_ca_file": pki.ca.cert,
              "temporal_tls_cert_file": pki.client.cert, "temporal_tls_key_file": pki.client.key,
              "temporal_tls_server_name": SERVER_NAME, "temporal_connect_timeout_s": 0}
    values.update(overrides)
    return settings(**{k: v for k, v in values.items() if v is not None})


async def _reaches(config: Settings) -> bool:
    try:
        async with asyncio.timeout(30):
            client = await connect(config)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
    except RuntimeError:  # "Failed client connect: ..." from the SDK's core
        return False
    return True


async def test_mutual_tls_with_api_key_reaches_temporal(tls_frontend: str, pki: Pki) -> None:
    # The dev server ignores the key; what counts is that Fenix connects over mTLS with it set.
    assert await _reaches(_mtls(pki, tls_frontend, temporal_api_key=API_KEY))


async def test_connect_with_retry_reaches_temporal_over_mtls(tls_frontend: str, pki: Pki,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "fenix.temporal")
    client = await connect_with_retry(_mtls(pki, tls_frontend), "test")
    assert client.namespace == "default"
    assert f"connected to Temporal at {tls_frontend} (namespace default, mTLS)" in caplog.text


@pytest.mark.parametrize(("overrides", "why"), [
    ({"temporal_tls_cert_file": None, "temporal_tls_key_file": None}, "no client certificate"),
    ({"temporal_tls_ca_file": "OTHER_CA"}, "the server's certificate is not from the configured CA"),
    ({"temporal_tls_server_name": None}, "the certificate does not name 127.0.0.1"),
    ({"temporal_tls": False, "temporal_tls_ca_file": None, "temporal_tls_cert_file": None,
      "temporal_tls_key_file": None, "temporal_tls_server_name": None}, "plaintext to a TLS port"),
])
async def test_refused_when_the_tls_settings_do_not_fit(tls_frontend: str, pki: Pki, overrides: dict[str, Any],
                                                        why: str) -> None:
    resolved = {k: pki.other_ca.cert if v == "OTHER_CA" else v for k, v in overrides.items()}
    assert not await _reaches(_mtls(pki, tls_frontend, **resolved)), why


async def test_fenix_setup_over_mtls(tls_frontend: str, pki: Pki) -> None:
    """The CLI path: `fenix setup` reads the same settings (the dev server has the attributes already)."""
    env = cli_env(temporal_address=tls_frontend, temporal_namespace="default", temporal_tls_ca_file=str(pki.ca.cert),
                  temporal_tls_cert_file=str(pki.client.cert), temporal_tls_key_file=str(pki.client.key),
                  temporal_tls_server_name=SERVER_NAME)
    run = await fenix("setup", env=env)
    assert run.code == 0, run
    assert "is ready for Fenix" in run.stdout


# --- a bad setting stops each process at start, with the variable's name --------------------------------------


@pytest.mark.parametrize(("command", "code"), [("worker", 1), ("api", 3), ("setup", 1)])
async def test_a_missing_certificate_stops_the_process_clearly(tmp_path: Path, command: str, code: int) -> None:
    # No metrics or health port: one taken by another process would stop the worker first, for that reason.
    env = cli_env(data_dir=str(tmp_path), temporal_address=f"127.0.0.1:{free_port()}", api_port=str(free_port()),
                  worker_metrics_port="0", worker_health_port="0",
                  temporal_tls_ca_file=str(tmp_path / "missing-ca.pem"))
    run = await fenix(command, env=env, timeout=60)  # also asserts: no traceback
    assert run.code == code, run
    assert f"FENIX_TEMPORAL_TLS_CA_FILE: cannot read {tmp_path / 'missing-ca.pem'}" in run.stdout + run.stderr, run
