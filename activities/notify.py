"""Webhook delivery: one notice to one subscription, as one activity attempt per POST.

Temporal's retry policy (``workflows.options.WEBHOOK``) does the backing off: this activity only sorts
failures into worth-retrying (``WebhookUnavailable``: 5xx, 408, 429, connection errors, timeouts) and
final (``WebhookRejected``: other 4xx, redirects, unusable URLs). The webhook's response body is
ignored: a VNFM answers through the reply URL, not in the webhook response.

Every POST is signed (fenix/signing.py: `webhook-id`, `webhook-timestamp`, `webhook-signature`, the Standard
Webhooks scheme) and goes only where fenix/egress.py allows: the URL's form is checked first, then the name is
resolved at connection time and every address checked, and the connection is made to the address that was checked
(no second lookup that DNS rebinding could answer differently). A refused destination is final (`WebhookRejected`).

Logs name the URL's host and the status only: headers, bodies, paths and query strings may hold tokens, and the
signing secrets never leave fenix/signing.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.webhook_body import aodh_body, native_body
from fenix.cloud.clock import temporal_clock
from fenix.egress import DestinationRefused, EgressPolicy
from fenix.metrics import Figures
from fenix.models.notification import BodyFormat, Delivery, DeliveryResult
from fenix.signing import WebhookSecrets, sign

# A webhook that fails is the project's endpoint, not Fenix, failing: the activity logs one line for it (above each
# raise), and the SDK, seeing the category, does not log the attempt again as a failed activity with a traceback
# (under load, `make demo` showed such tracebacks for retried deliveries) nor count it as one in its metrics;
# fenix_webhook_attempts_total counts every outcome.
BENIGN = ApplicationErrorCategory.BENIGN

# 408 Request Timeout and 429 Too Many Requests are the 4xx that say "try again later".
RETRYABLE_4XX = frozenset({408, 429})
# Upper bound for a Retry-After we honour: beyond it Temporal's own backoff is used.
MAX_RETRY_AFTER_S = 300.0


def _host(url: str) -> str:
    # hostname[:port] only: the URL's userinfo, path or query may carry credentials.
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _retry_after(response: httpx.Response) -> timedelta | None:
    # Only the delta-seconds form; an HTTP-date is rare from webhooks and falls back to the backoff.
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds < 0 or seconds > MAX_RETRY_AFTER_S:
        return None
    return timedelta(seconds=seconds)


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves a webhook's host once per connection, checks every address with the egress policy, and connects
    to a checked address; TLS still verifies (and SNI names) the host of the URL, which httpcore passes on."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._backend = AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        checked = self._policy.check_resolved(host, addresses)  # DestinationRefused: not an httpcore error, final
        last: Exception | None = None
        for address in checked:
            try:
                return await self._backend.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                       socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("webhooks do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def checked_transport(policy: EgressPolicy) -> httpx.AsyncHTTPTransport:
    """httpx's transport, with connections made by CheckedBackend. No proxy from the environment: a proxy would
    make the connection (and the resolution) where the policy cannot check it."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                                   network_backend=CheckedBackend(policy))
    return transport


class WebhookActivities:
    """Delivers notices over one shared ``httpx.AsyncClient`` (connection pooling across deliveries)."""

    def __init__(self, timeout_s: float, heartbeat_s: float = 2.0, *, egress: EgressPolicy,
                 secrets: WebhookSecrets) -> None:
        """Create the HTTP client.

        Args:
            timeout_s: httpx timeout (connect, and silence while reading): a VNFM may scale inside the
                request, so use minutes (``settings.webhook_timeout_s``).
            heartbeat_s: How often to heartbeat while a POST is open; well below the activity's
                heartbeat timeout.
            egress: Where webhooks may go (``EgressPolicy.from_settings``).
            secrets: The subscriptions' signing secrets (``WebhookSecrets.from_settings``).
        """
        self._heartbeat_s = heartbeat_s
        self._egress = egress
        self._secrets = secrets
        # No redirects: a webhook that redirects is misconfigured, and following one could carry the
        # notice to another host (and past the egress check).
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
                                         transport=checked_transport(egress),
                                         headers={"User-Agent": "fenix-notifier"})

    async def aclose(self) -> None:
        """Close the HTTP client and its pooled connections (worker shutdown)."""
        await self._client.aclose()

    @activity.defn(name="deliver_notification")
    async def deliver(self, req: Delivery) -> DeliveryResult:
        """POST one notice to one subscription's URL.

        Args:
            req: The subscription (URL, body format) and the envelope to send.

        Returns:
            The 2xx status code and the time the POST took.

        Raises:
            ApplicationError: ``WebhookRejected`` (non-retryable) for 3xx, 4xx other than 408/429 and
                unusable URLs; ``WebhookUnavailable`` (retryable, honouring a short ``Retry-After``)
                for 5xx, 408, 429, connection errors and timeouts. Details: ``{"host", "status_code"}``.
        """
        # Every attempt is counted here, where its outcome is known: `fenix_notices_total` (workflows/outbox.py)
        # counts each notice once, after Temporal's retries.
        start = time.monotonic()
        outcome = "error"  # cancelled (an abort), or a bug
        try:
            result = await self._deliver(req)
            outcome = "ok"
            return result
        except ApplicationError as err:
            outcome = "rejected" if err.non_retryable else "unavailable"
            raise
        finally:
            Figures(activity.metric_meter()).webhook_attempt(req.envelope.event_type, outcome,
                                                            time.monotonic() - start)

    async def _deliver(self, req: Delivery) -> DeliveryResult:
        sub, env = req.subscription, req.envelope
        # Temporal's clock (virtual on the time-skipping server), as the workflow's deadlines are.
        sent_at = datetime.fromtimestamp(temporal_clock(), tz=UTC)
        if env.from_delivery:
            env = env.model_copy(update={"payload": env.stamped(sent_at), "from_delivery": {}})
        body = aodh_body(env, sub) if sub.format == BodyFormat.AODH else native_body(env)
        host = _host(sub.url)
        # The exact bytes sent are the bytes signed.
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        keys = await asyncio.to_thread(self._secrets.signing_keys, sub.id)
        stamp = int(time.time())  # wall time, as the receiver's replay window is
        headers = {
            "Content-Type": "application/json",
            "X-Fenix-Event": env.event_type,
            "X-Fenix-Message-Id": env.message_id,
            "webhook-id": env.message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(keys, env.message_id, stamp, content),
        }
        state = env.payload.get("state", "")
        start = time.monotonic()
        try:
            self._egress.check_url(sub.url)
            response = await self._post_heartbeating(sub.url, content, headers, host)
        except DestinationRefused as exc:
            activity.logger.warning("webhook for subscription %s refused: %s", sub.id, exc)
            raise ApplicationError(f"webhook destination refused for subscription {sub.id}: {exc}",
                                   {"host": host, "status_code": None},
                                   type="WebhookRejected", category=BENIGN, non_retryable=True) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            activity.logger.warning("webhook for subscription %s has an unusable URL", sub.id)
            raise ApplicationError(f"unusable webhook URL for subscription {sub.id}: {exc}",
                                   {"host": host, "status_code": None},
                                   type="WebhookRejected", category=BENIGN, non_retryable=True) from exc
        except httpx.TimeoutException as exc:
            activity.logger.warning("webhook %s timed out (%s)", host, type(exc).__name__)
            raise ApplicationError(f"webhook {host} timed out ({type(exc).__name__})",
                                   {"host": host, "status_code": None},
                                   type="WebhookUnavailable", category=BENIGN) from exc
        except httpx.HTTPError as exc:
            activity.logger.warning("webhook %s unreachable: %s", host, type(exc).__name__)
            raise ApplicationError(f"webhook {host} unreachable: {type(exc).__name__}: {exc}",
                                   {"host": host, "status_code": None},
                                   type="WebhookUnavailable", category=BENIGN) from exc
        elapsed = round(time.monotonic() - start, 3)
        status = response.status_code
        activity.logger.info("webhook %s %s %s: %s in %.2fs", host, env.event_type, state, status, elapsed)

        details: dict[str, Any] = {"host": host, "status_code": status}
        if 200 <= status < 300:
            return DeliveryResult(status_code=status, elapsed_s=elapsed, delivered_at=sent_at)
        if status >= 500 or status in RETRYABLE_4XX:
            raise ApplicationError(f"webhook {host} answered {status}", details,
                                   type="WebhookUnavailable", category=BENIGN, next_retry_delay=_retry_after(response))
        raise ApplicationError(f"webhook {host} rejected the notice with {status}", details,
                               type="WebhookRejected", category=BENIGN, non_retryable=True)

    async def _post_heartbeating(self, url: str, content: bytes, headers: dict[str, str],
                                 host: str) -> httpx.Response:
        # The POST runs as a task while this loop heartbeats: a VNFM may take minutes inside the
        # request, and without heartbeats Temporal would time the attempt out and POST again.
        task = asyncio.create_task(self._client.post(url, content=content, headers=headers))
        start = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._heartbeat_s)
                if done:
                    return task.result()
                activity.heartbeat(f"waiting for {host}: {time.monotonic() - start:.0f}s")
        finally:
            # Activity cancelled (or heartbeat failed): abandon the request and its connection.
            if not task.done():
                task.cancel()
