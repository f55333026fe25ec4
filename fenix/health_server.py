"""The worker's `/healthz` and `/readyz`: a few lines of HTTP/1.1 on asyncio streams.

The worker has no web framework, and health probes need none: one GET, one small JSON answer, the connection
closed. It runs on the worker's event loop, so `/readyz` can ask Temporal with the worker's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fenix.health import Readiness

log = logging.getLogger("fenix.worker.health")

REQUEST_TIMEOUT_S = 5.0  # a client that sends nothing is dropped
MAX_HEADER_LINES = 100
READ_LIMIT = 16 * 1024  # longest request or header line


class HealthServer:
    """Serves `GET /healthz` (the process serves: 200) and `GET /readyz` (`readiness()`: 200 or 503 with each check's
    result), on `host`:`port`."""

    def __init__(self, readiness: Callable[[], Awaitable[Readiness]], host: str, port: int) -> None:
        self._readiness = readiness
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port, limit=READ_LIMIT)
        log.info("health endpoints on http://%s:%d/healthz and /readyz", self._host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                method, path = await _read_request(reader)
                status, body = await self._answer(method, path)
                payload = json.dumps(body).encode()
                head = (f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\nConnection: close\r\n")
                if status == HTTPStatus.SERVICE_UNAVAILABLE:
                    head += "Retry-After: 5\r\n"
                writer.write(head.encode("latin-1") + b"\r\n" + (b"" if method == "HEAD" else payload))
                await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a broken or idle client: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[HTTPStatus, dict[str, object]]:
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, _error(f"{method} not allowed: GET /healthz or /readyz")
        if path == "/healthz":
            return HTTPStatus.OK, {"status": "ok"}
        if path == "/readyz":
            readiness = await self._readiness()
            status = HTTPStatus.OK if readiness.ready else HTTPStatus.SERVICE_UNAVAILABLE
            return status, readiness.body().model_dump(mode="json", exclude_none=True)
        return HTTPStatus.NOT_FOUND, _error(f"no {path}: GET /healthz or /readyz")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of the request line; the headers are read and ignored (there is no body to find)."""
    parts = (await reader.readuntil(b"\n")).decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("not an HTTP request")
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readuntil(b"\n")).strip() == b"":
            return parts[0].upper(), parts[1].split("?", 1)[0]
    raise ValueError("too many header lines")


def _error(message: str) -> dict[str, object]:
    return {"error": message, "detail": message}
