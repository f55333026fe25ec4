"""Webhook bodies (native and AODH-shaped) and delivery over real HTTP to a local test server."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import WebhookActivities
from activities.webhook_body import aodh_body, native_body, parse_aodh_body
from fenix.egress import EgressPolicy
from fenix.models.notification import (
    EVENT_PROJECT,
    BodyFormat,
    Delivery,
    DeliveryResult,
    NoticeEnvelope,
    Subscription,
)
from fenix.signing import WebhookSecrets

# The test endpoints listen on loopback: allowed as an operator would (FENIX_WEBHOOK_ALLOW).
LOOPBACK_ALLOWED = EgressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
SECRETS = WebhookSecrets(b"test signing key of the webhook tests", Path(tempfile.mkdtemp()) / "rotations.sqlite",
                         grace_s=3600)

# --- a real HTTP endpoint -------------------------------------------------------------------------

# path -> (status, seconds to wait before answering, extra response headers)
ROUTES: dict[str, tuple[int, float, dict[str, str]]] = {
    "/ok": (200, 0, {}),
    "/accepted": (202, 0, {}),
    "/fail": (500, 0, {}),
    "/missing": (404, 0, {}),
    "/busy": (429, 0, {"Retry-After": "7"}),
    "/moved": (302, 0, {"Location": "http://example.invalid/"}),
    "/slow": (200, 2.0, {}),
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""


@dataclass
class Endpoint:
    base: str
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            path = self.path.split("?")[0]
            endpoint.requests.append(Received(path, dict(self.headers.items()), json.loads(raw), raw))
            status, delay, headers = ROUTES.get(path, (404, 0, {}))
            time.sleep(delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    """A threaded HTTP server on 127.0.0.1 (free port) that records every POST."""
    ep = Endpoint(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ep))
    server.daemon_threads = True
    ep.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ep
    server.shutdown()
    server.server_close()


@pytest_asyncio.fixture
async def webhooks() -> AsyncIterator[WebhookActivities]:
    acts = WebhookActivities(timeout_s=10, heartbeat_s=0.2, egress=LOOPBACK_ALLOWED, secrets=SECRETS)
    yield acts
    await acts.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- data -----------------------------------------------------------------------------------------

GENERATED = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def envelope(**payload: Any) -> NoticeEnvelope:
    base: dict[str, Any] = {
        "project_id": "p1",
        "session_id": "s-1",
        "state": "PLANNED_MAINTENANCE",
        "instance_ids": "http://127.0.0.1:12347/v1/maintenance/s-1/p1",
        "allowed_actions": ["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"],
        "actions_at": "2024-05-01 10:05:00",
        "reply_at": "2024-05-01 10:05:00",
        "reply_url": "http://127.0.0.1:12347/v1/maintenance/s-1/p1",
        "metadata": {"openstack_version": "Train", "nested": {"a": [1, 2]}},
        "service": "fenix",
    }
    base.update(payload)
    return NoticeEnvelope(event_type=EVENT_PROJECT, message_id="m-1", generated=GENERATED,
                          project_id="p1", payload=base)


def subscription(url: str, fmt: BodyFormat = BodyFormat.NATIVE) -> Subscription:
    return Subscription(id="sub-1", project_id="p1", url=url, event_types=[EVENT_PROJECT], format=fmt,
                        created_at=GENERATED)


# --- bodies ---------------------------------------------------------------------------------------


def test_native_body() -> None:
    env = envelope()
    body = native_body(env)
    assert body == {
        "event_type": "maintenance.scheduled",
        "message_id": "m-1",
        "generated": "2024-05-01T10:00:00.123456+00:00",
        "publisher_id": "fenix",
        "priority": "INFO",
        "payload": env.payload,
    }
    json.dumps(body)  # serialisable as-is


def test_aodh_body_shape() -> None:
    body = aodh_body(envelope(), subscription("http://vnfm/maintenance", BodyFormat.AODH))
    assert body["alarm_id"] == "sub-1"
    assert body["severity"] == "low"
    assert (body["previous"], body["current"]) == ("ok", "alarm")
    assert "m-1" in body["reason"] and "maintenance.scheduled" in body["reason"]
    assert body["reason_data"]["type"] == "event"
    event = body["reason_data"]["event"]
    assert event["message_id"] == "m-1"
    assert event["event_type"] == "maintenance.scheduled"
    assert event["generated"] == "2024-05-01T10:00:00.123456+00:00"
    assert event["raw"] == {} and event["message_signature"] == ""
    traits = {t[0]: t for t in event["traits"]}
    assert all(len(t) == 3 and isinstance(t[2], str) for t in event["traits"])
    assert traits["actions_at"][1] == 4 and traits["reply_at"][1] == 4
    assert {t[1] for name, t in traits.items() if name not in ("actions_at", "reply_at")} == {1}
    assert traits["allowed_actions"][2] == '["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"]'
    assert traits["state"][2] == "PLANNED_MAINTENANCE"
    json.dumps(body)


def test_aodh_round_trip() -> None:
    env = envelope()
    parsed = parse_aodh_body(aodh_body(env, subscription("http://vnfm/", BodyFormat.AODH)))
    assert parsed == env.payload


def test_aodh_none_omitted_and_scalars_are_text() -> None:
    env = envelope(state="INSTANCE_ACTION_DONE", instance_ids=["i-1"], actions_at=None, reply_at=None,
                   metadata={}, when=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), count=3, flag=True)
    body = aodh_body(env, subscription("http://vnfm/", BodyFormat.AODH))
    traits = {t[0]: t[2] for t in body["reason_data"]["event"]["traits"]}
    assert "actions_at" not in traits and "reply_at" not in traits
    assert traits["instance_ids"] == '["i-1"]'
    assert traits["metadata"] == "{}"
    assert traits["when"] == "2024-05-01 12:00:00"
    assert (traits["count"], traits["flag"]) == ("3", "true")
    parsed = parse_aodh_body(body)
    assert parsed["instance_ids"] == ["i-1"] and parsed["metadata"] == {}


def test_aodh_trait_text_is_yaml_for_doctor() -> None:
    # Doctor's VNFM yaml-loads any trait value containing "[" or "{".
    yaml = pytest.importorskip("yaml")
    body = aodh_body(envelope(), subscription("http://vnfm/", BodyFormat.AODH))
    traits = {t[0]: t[2] for t in body["reason_data"]["event"]["traits"]}
    assert yaml.safe_load(traits["allowed_actions"]) == ["MIGRATE", "LIVE_MIGRATE", "OWN_ACTION"]
    assert yaml.safe_load(traits["metadata"])["nested"] == {"a": [1, 2]}


def test_parse_aodh_keeps_non_json_text() -> None:
    body = {"reason_data": {"event": {"traits": [["metadata", 1, "{'python': 'repr'}"], ["x", 1, "[a"]]}}}
    assert parse_aodh_body(body) == {"metadata": "{'python': 'repr'}", "x": "[a"}


# --- delivery -------------------------------------------------------------------------------------


async def deliver(acts: WebhookActivities, sub: Subscription, env: NoticeEnvelope | None = None,
                  beats: list[Any] | None = None) -> DeliveryResult:
    aenv = ActivityEnvironment()
    if beats is not None:
        aenv.on_heartbeat = lambda *details: beats.append(details)
    return await aenv.run(acts.deliver, Delivery(subscription=sub, envelope=env or envelope()))


async def deliver_failing(acts: WebhookActivities, sub: Subscription) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await deliver(acts, sub)
    return info.value


async def test_deliver_native_ok(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    env = envelope()
    result = await deliver(webhooks, subscription(endpoint.url("/ok")), env)
    assert result.status_code == 200
    assert result.elapsed_s >= 0
    got = endpoint.requests[-1]
    assert got.path == "/ok"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Fenix-Event"] == "maintenance.scheduled"
    assert got.headers["X-Fenix-Message-Id"] == "m-1"
    assert got.body == native_body(env)


async def test_deliver_aodh_ok(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    env = envelope()
    result = await deliver(webhooks, subscription(endpoint.url("/accepted"), BodyFormat.AODH), env)
    assert result.status_code == 202
    got = endpoint.requests[-1]
    assert got.body["alarm_id"] == "sub-1"
    assert parse_aodh_body(got.body) == env.payload


async def test_deliver_500_is_retryable(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription(endpoint.url("/fail")))
    assert err.type == "WebhookUnavailable"
    assert not err.non_retryable
    assert err.details[0] == {"host": "127.0.0.1:" + endpoint.base.rsplit(":", 1)[1], "status_code": 500}


async def test_deliver_429_honours_retry_after(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription(endpoint.url("/busy")))
    assert err.type == "WebhookUnavailable"
    assert not err.non_retryable
    assert err.next_retry_delay == timedelta(seconds=7)


async def test_deliver_404_is_rejected(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription(endpoint.url("/missing")))
    assert err.type == "WebhookRejected"
    assert err.non_retryable
    assert "404" in err.message


async def test_deliver_redirect_is_rejected(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription(endpoint.url("/moved")))
    assert err.type == "WebhookRejected"
    assert err.non_retryable


async def test_deliver_connection_refused_is_retryable(webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription(f"http://127.0.0.1:{free_port()}/hook"))
    assert err.type == "WebhookUnavailable"
    assert not err.non_retryable


async def test_deliver_bad_scheme_is_rejected(webhooks: WebhookActivities) -> None:
    err = await deliver_failing(webhooks, subscription("ftp://127.0.0.1/hook"))
    assert err.type == "WebhookRejected"
    assert err.non_retryable


async def test_deliver_timeout_is_retryable(endpoint: Endpoint) -> None:
    acts = WebhookActivities(timeout_s=0.3, egress=LOOPBACK_ALLOWED, secrets=SECRETS)
    try:
        err = await deliver_failing(acts, subscription(endpoint.url("/slow")))
    finally:
        await acts.aclose()
    assert err.type == "WebhookUnavailable"
    assert "timed out" in err.message
    assert not err.non_retryable


async def test_deliver_slow_endpoint_heartbeats(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    beats: list[Any] = []
    start = time.monotonic()
    result = await deliver(webhooks, subscription(endpoint.url("/slow")), beats=beats)
    assert result.status_code == 200
    assert time.monotonic() - start >= 2
    assert result.elapsed_s >= 2
    # heartbeat_s=0.2 over a 2 s request.
    assert len(beats) >= 5
    assert "waiting for 127.0.0.1" in beats[0][0]


async def test_deliver_cancel_abandons_post(endpoint: Endpoint, webhooks: WebhookActivities) -> None:
    aenv = ActivityEnvironment()
    req = Delivery(subscription=subscription(endpoint.url("/slow")), envelope=envelope())
    task = asyncio.ensure_future(aenv.run(webhooks.deliver, req))
    await asyncio.sleep(0.3)
    aenv.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
