"""Signed deliveries and the egress check of the delivery activity, over real HTTP to a local endpoint.

Issue 9, items 3 and 4: every POST carries Standard Webhooks headers that verify with the subscription's secret
(and, after a rotation, with the previous one for a grace time); internal destinations are refused at delivery,
on the address the name resolves to then, and the connection goes to exactly that address (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import WebhookActivities
from fenix.egress import EgressPolicy
from fenix.models.notification import BodyFormat, Delivery
from fenix.signing import InvalidSignature, WebhookSecrets, verify
from tests.activities.test_webhook import Endpoint, envelope, subscription
from tests.activities.test_webhook import endpoint as endpoint  # noqa: F401 (the module-scoped server fixture)

LOOPBACK = EgressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
NOTHING_ALLOWED = EgressPolicy()


@pytest.fixture
def secrets(tmp_path: Path) -> WebhookSecrets:
    return WebhookSecrets(b"a signing key for these tests only", tmp_path / "rotations.sqlite", grace_s=3600)


@pytest_asyncio.fixture
async def acts(secrets: WebhookSecrets) -> AsyncIterator[WebhookActivities]:
    a = WebhookActivities(timeout_s=10, heartbeat_s=0.2, egress=LOOPBACK, secrets=secrets)
    yield a
    await a.aclose()


async def deliver(acts: WebhookActivities, url: str, fmt: BodyFormat = BodyFormat.NATIVE) -> Any:
    return await ActivityEnvironment().run(acts.deliver, Delivery(subscription=subscription(url, fmt),
                                                                  envelope=envelope()))


def raw_of(ep: Endpoint) -> tuple[dict[str, str], bytes]:
    last = ep.requests[-1]
    return last.headers, last.raw


async def test_every_delivery_is_signed_and_verifies(acts: WebhookActivities, secrets: WebhookSecrets,
                                                     endpoint: Endpoint) -> None:  # noqa: F811
    secret = secrets.secret("sub-1")
    assert secret.startswith("whsec_")
    for fmt in (BodyFormat.NATIVE, BodyFormat.AODH):  # AODH bodies (Doctor-era VNFMs) carry the same headers
        await deliver(acts, endpoint.url("/ok"), fmt)
        headers, raw = raw_of(endpoint)
        assert headers["webhook-id"] == "m-1" and headers["webhook-timestamp"].isdigit()
        assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
        verify(secret, headers, raw)
        assert json.loads(raw) == endpoint.requests[-1].body
        with pytest.raises(InvalidSignature):
            verify(secret, headers, raw.replace(b"PLANNED_MAINTENANCE", b"MAINTENANCE"))  # a forged body
        with pytest.raises(InvalidSignature):
            verify(secrets.secret("sub-2"), headers, raw)  # another subscription's secret
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify(secret, headers, raw, now=int(headers["webhook-timestamp"]) + 301)  # a replay, later
    assert secret not in json.dumps([r.headers for r in endpoint.requests])


async def test_after_a_rotation_both_secrets_sign_for_the_grace_time(acts: WebhookActivities,
                                                                    secrets: WebhookSecrets, tmp_path: Path,
                                                                    endpoint: Endpoint) -> None:  # noqa: F811
    old = secrets.secret("sub-1")
    new, until = secrets.rotate("sub-1")
    assert new != old and until is not None
    await deliver(acts, endpoint.url("/ok"))
    headers, raw = raw_of(endpoint)
    assert len(headers["webhook-signature"].split()) == 2
    verify(new, headers, raw)
    verify(old, headers, raw)
    # Without a grace time, only the new secret signs.
    strict = WebhookSecrets(b"a signing key for these tests only", tmp_path / "rotations.sqlite", grace_s=0)
    quick = WebhookActivities(timeout_s=10, egress=LOOPBACK, secrets=strict)
    try:
        await deliver(quick, endpoint.url("/ok"))
    finally:
        await quick.aclose()
    headers, raw = raw_of(endpoint)
    verify(new, headers, raw)
    with pytest.raises(InvalidSignature):
        verify(old, headers, raw)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:7f00:1]", "localhost",
                                  "0.0.0.0", "[::1]"])
async def test_internal_destinations_are_refused_at_delivery(secrets: WebhookSecrets, endpoint: Endpoint,  # noqa: F811
                                                             host: str) -> None:
    port = endpoint.base.rsplit(":", 1)[1]
    acts = WebhookActivities(timeout_s=10, egress=NOTHING_ALLOWED, secrets=secrets)
    before = len(endpoint.requests)
    try:
        with pytest.raises(ApplicationError) as err:
            await deliver(acts, f"http://{host}:{port}/ok")
    finally:
        await acts.aclose()
    assert err.value.type == "WebhookRejected" and err.value.non_retryable, err.value
    assert "refused" in err.value.message, err.value.message
    assert len(endpoint.requests) == before  # nothing reached the endpoint


async def test_credentials_and_fenix_ports_are_refused(secrets: WebhookSecrets) -> None:
    acts = WebhookActivities(timeout_s=10, egress=EgressPolicy(refused_ports=frozenset({7233})), secrets=secrets)
    try:
        for url, why in (("http://user:pw@93.184.216.34/x", "user name or password"),
                         ("http://93.184.216.34:7233/", "port 7233")):
            with pytest.raises(ApplicationError, match=why):
                await deliver(acts, url)
    finally:
        await acts.aclose()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """A resolver the test controls, for names only it knows (as a hostile DNS server would answer)."""
    answers: dict[str, list[str]] = {}
    real = anyio.getaddrinfo

    async def resolve(host: str, port: int, **kw: Any) -> list[Any]:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]
        return await real(host, port, **kw)

    monkeypatch.setattr("activities.notify.anyio.getaddrinfo", resolve)
    yield answers


async def test_a_name_that_resolves_to_an_internal_address_is_refused(secrets: WebhookSecrets, endpoint: Endpoint,  # noqa: F811
                                                                      rebinding: dict[str, list[str]]) -> None:
    """The name passed the API's check (it resolved to a public address then); at delivery it resolves to
    loopback. Refused, and nothing is sent: the check is on the address the connection would use."""
    port = endpoint.base.rsplit(":", 1)[1]
    rebinding["vnfm.rebind.test"] = ["127.0.0.1"]
    rebinding["vnfm.mixed.test"] = ["93.184.216.34", "169.254.169.254"]
    acts = WebhookActivities(timeout_s=10, egress=NOTHING_ALLOWED, secrets=secrets)
    before = len(endpoint.requests)
    try:
        for name, why in (("vnfm.rebind.test", "loopback"), ("vnfm.mixed.test", "link-local")):
            with pytest.raises(ApplicationError, match=why) as err:
                await deliver(acts, f"http://{name}:{port}/ok")
            assert err.value.type == "WebhookRejected" and err.value.non_retryable
    finally:
        await acts.aclose()
    assert len(endpoint.requests) == before


async def test_the_connection_goes_to_the_address_that_was_checked(acts: WebhookActivities, endpoint: Endpoint,  # noqa: F811
                                                                   rebinding: dict[str, list[str]]) -> None:
    """Only this resolver knows the name: the POST arriving proves the connection used the checked address (no
    second lookup), with the name still in the Host header."""
    port = endpoint.base.rsplit(":", 1)[1]
    rebinding["vnfm.allowed.test"] = ["127.0.0.1"]  # allowed: LOOPBACK
    await deliver(acts, f"http://vnfm.allowed.test:{port}/ok")
    headers, _ = raw_of(endpoint)
    assert headers["Host"] == f"vnfm.allowed.test:{port}"
