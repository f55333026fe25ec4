"""The API's connection to Temporal, made in the background at start-up.

Started before Temporal (a host boot, Temporal restarting), the API serves at once: `/healthz` says it lives,
`/readyz` and every `/v1` call answer 503 until it is connected. It keeps trying with backoff
(fenix.temporal.connect_with_retry) for FENIX_TEMPORAL_CONNECT_TIMEOUT_S, then stops the process, so that a
supervisor sees a failure instead of an API that can never work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from temporalio.client import Client, Interceptor

from fenix.health import CheckResult, temporal_checks
from fenix.settings import Settings
from fenix.temporal import TemporalUnreachable, connect_with_retry
from fenix.temporal_security import TemporalSettingsError

log = logging.getLogger("fenix.api")


class TemporalNotReady(Exception):
    """No usable connection to Temporal (yet); api/errors.py answers 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporalLink:
    def __init__(self, settings: Settings, client: Client | None = None,
                 interceptors: Sequence[Interceptor] = ()) -> None:
        self._settings = settings
        self._client = client  # tests hand in a connected client
        self._interceptors = interceptors  # tracing's, when on
        self._task: asyncio.Task[None] | None = None
        self._failure: str | None = None

    @property
    def gave_up(self) -> bool:
        return self._failure is not None

    def start(self) -> None:
        if self._client is None:
            self._task = asyncio.create_task(self._connect(), name="fenix-temporal-connect")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _connect(self) -> None:
        try:
            self._client = await connect_with_retry(self._settings, "api", interceptors=self._interceptors)
        except Exception as err:  # TemporalUnreachable, TemporalSettingsError; anything else must not leave it unready
            self._failure = (str(err) if isinstance(err, TemporalUnreachable | TemporalSettingsError)
                             else f"api: cannot use Temporal: {err!r}")
            log.error("%s; stopping the API", self._failure)
            # A graceful shutdown, as on SIGTERM (uvicorn's own handler); the lifespan then exits non-zero.
            signal.raise_signal(signal.SIGTERM)

    def _not_connected(self) -> str:
        return self._failure or (f"not connected to Temporal at {self._settings.temporal_address} yet (the API is "
                                 "starting, or Temporal is down); try again")

    @property
    def client(self) -> Client:
        if self._client is None:
            raise TemporalNotReady(self._not_connected())
        return self._client

    async def checks(self) -> dict[str, CheckResult]:
        """Readiness of the Temporal side (fenix/health.py): connected, the server answers, the namespace and
        Fenix's search attributes are there."""
        return await temporal_checks(self._client, self._settings, self._not_connected())
