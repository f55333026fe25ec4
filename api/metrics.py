"""The API's `/metrics`: requests by method, route template and status, and how long they took (Prometheus).

`HttpMetrics` is the outermost middleware, so it also sees the answers given before routing (a 401 of the token
check, a 413 of the body limit, api/gate.py). Routes are labelled by their template (`/v1/maintenance/{session_id}`),
never by the path itself: ids stay out of the labels and the series stay few; a path that matches no route is
`unmatched`.

`/metrics` is outside `/v1`, so like `/healthz` and `/readyz` it needs no token (api/gate.py checks `/v1` only): it
shows route templates, methods, status codes, timings and the process's own figures (memory, CPU, open files),
nothing of a tenant. Sessions, hosts and projects are counted on the worker's endpoint, which only the operator's
network reaches (docs/operations.md).

Each app has its own registry: tests build many apps in one process, and the global registry refuses a metric
registered twice.
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    """The API's registry and its two request figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter("fenix_api_requests", "API requests by method, route template and status",
                                labels, registry=self.registry)
        self.duration = Histogram("fenix_api_request_duration_seconds",
                                  "Seconds from a request's arrival to the end of its answer, by method, route "
                                  "template and status", labels, buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route, str(status)).observe(seconds)

    def endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class HttpMetrics:
    """Times every HTTP request but the scrape itself, and counts it by route template and status (outermost)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.route = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that ends the request before any answer: the server answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(scope.get("method", ""), self.route(scope), status, time.perf_counter() - start)


class RouteTemplates:
    """Finds the template of the route a request is for, from the app's OpenAPI paths (full templates, in the
    order the routes match) and its other top-level routes (/docs, /metrics, ...). Public FastAPI and Starlette
    only: the router's own structures change between FastAPI releases. Built at the first request, once every route
    is in place."""

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    def __call__(self, scope: Scope) -> str:
        if self._table is None:
            self._table = self._build(scope["app"])
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        method = scope.get("method", "")
        partial = None
        for regex, template, methods in self._table:
            if regex.match(path):
                if method in methods:
                    return template
                partial = partial or template  # the path matches, the method does not (405)
        return partial or UNMATCHED

    @staticmethod
    def _build(app: FastAPI) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
        table: list[tuple[re.Pattern[str], str, frozenset[str]]] = []
        for template, operations in app.openapi().get("paths", {}).items():
            methods = {m.upper() for m in operations if m.upper() in HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((compile_path(template)[0], template, frozenset(methods)))
        known = {template for _, template, _ in table}
        for route in app.router.routes:
            if isinstance(route, Route) and route.path_format not in known:
                table.append((route.path_regex, route.path_format, frozenset(route.methods or ())))
        return table
