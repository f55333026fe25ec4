"""The API's /metrics: no token needed, requests counted by route template (never by id) and status, those refused
before routing too, and the scrape itself left out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from api.app import create_app
from fenix import tokens
from fenix.settings import Settings
from tests.metrics.scrape import scrape, total


@pytest_asyncio.fixture(loop_scope="session")
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app in process, with no Temporal behind it (its routes answer 503): this is about the HTTP layer."""
    settings = Settings(data_dir=tmp_path, temporal_address="127.0.0.1:1", temporal_connect_timeout_s=600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        admin = tokens.add(settings.tokens_path, project_id="admin", name="t", roles=[tokens.ADMIN_ROLE],
                           replace=True).token
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            yield http, admin


async def test_metrics_need_no_token_and_count_by_route_template(api: tuple[httpx.AsyncClient, str]) -> None:
    http, admin = api
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/v1/maintenance/secret-session-1/detail")).status_code == 401  # no token
    await http.get("/v1/maintenance/secret-session-2/tenant-a", headers={"X-Auth-Token": admin})
    assert (await http.get("/no/such/path")).status_code == 404
    assert (await http.delete("/healthz")).status_code == 405

    r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "secret-session" not in r.text and "tenant-a" not in r.text and admin not in r.text
    samples = await scrape(http, "/metrics")
    assert total(samples, "fenix_api_requests_total", method="GET", route="/healthz", status="200") == 1
    assert total(samples, "fenix_api_requests_total", route="/v1/maintenance/{session_id}/detail", status="401") == 1
    assert total(samples, "fenix_api_requests_total", method="GET",
                 route="/v1/maintenance/{session_id}/{project_id}") == 1
    assert total(samples, "fenix_api_requests_total", route="unmatched", status="404") == 1
    assert total(samples, "fenix_api_requests_total", method="DELETE", route="/healthz", status="405") == 1
    assert total(samples, "fenix_api_request_duration_seconds_count", route="/healthz") == 2
    assert total(samples, "fenix_api_requests_total", route="/metrics") == 0
    assert total(samples, "process_resident_memory_bytes") > 0
