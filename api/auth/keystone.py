"""`FENIX_AUTH_MODE=keystone`: the token is validated against Keystone by Fenix's own service user, as
keystonemiddleware does (`GET /v3/auth/tokens` with `X-Subject-Token`). Validations are cached briefly, keyed by a
hash of the token; the raw token is never logged or kept as a key."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from api.auth.principal import (
    INVALID_TOKEN,
    MAX_TOKEN_CHARS,
    AuthConfigError,
    AuthRejected,
    AuthUnavailable,
    Principal,
    fingerprint,
)
from fenix.health import NotReady
from fenix.settings import Settings
from fenix.tokens import ADMIN_ROLE, SERVICE_ROLE

if TYPE_CHECKING:
    from keystoneauth1.session import Session

log = logging.getLogger("fenix.api.auth")

KEYSTONE_THREADS = 16  # concurrent validations; a hung Keystone ties up only these threads
KEYSTONE_READY_TTL_S = 5.0  # a readiness verdict on Keystone is reused this long: probes must not load Keystone


@dataclass(frozen=True)
class Verdict:
    """One validation's outcome: a principal, or the reason the token is refused."""

    principal: Principal | None = None
    reason: str = ""
    expires_at: datetime | None = None  # the token's own expiry: a cached verdict never outlives it

    def result(self) -> Principal:
        if self.principal is None:
            raise AuthRejected(self.reason)
        return self.principal


@dataclass(frozen=True)
class _Cached:
    until: float  # clock() time
    verdict: Verdict


class KeystoneAuthenticator:
    """Validates tokens with Keystone (keystoneauth1), off the event loop, with a small TTL + LRU cache.

    Concurrent requests with the same uncached token share one validation."""

    def __init__(self, session: Session, *, admin_role: str = "admin", service_role: str = "service",
                 interface: str = "internal", region_name: str | None = None, cache_ttl_s: float = 60.0,
                 cache_size: int = 10000, auth_url: str | None = None, deadline_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._admin_role = admin_role
        self._service_role = service_role
        interfaces = [interface] if interface == "public" else [interface, "public"]
        self._endpoint_filter: dict[str, Any] = {"service_type": "identity", "interface": interfaces,
                                                 "version": (3, 0)}
        if region_name:
            self._endpoint_filter["region_name"] = region_name
        self._ttl = cache_ttl_s
        self._size = cache_size
        self._deadline = deadline_s
        self._clock = clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Verdict]] = {}
        self._pool = ThreadPoolExecutor(KEYSTONE_THREADS, thread_name_prefix="fenix-keystone")
        self.challenge = f'Keystone uri="{auth_url}"' if auth_url else "Bearer"
        self._ready: tuple[float, bool, str] | None = None  # until (clock), ready, detail
        self._ready_probe: asyncio.Future[tuple[bool, str]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KeystoneAuthenticator:
        session, auth_url, region = keystone_session(settings)
        return cls(session, admin_role=settings.keystone_admin_role, service_role=settings.keystone_service_role,
                   interface=settings.keystone_interface, region_name=region,
                   cache_ttl_s=settings.keystone_cache_ttl_s, cache_size=settings.keystone_cache_size,
                   auth_url=auth_url, deadline_s=settings.keystone_timeout_s)

    async def verify(self, token: str) -> Principal:
        if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            raise AuthRejected(INVALID_TOKEN)
        key = fingerprint(token)
        cached = self._cache.get(key)
        if cached is not None:
            if cached.until > self._clock():
                self._cache.move_to_end(key)
                return cached.verdict.result()
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(loop.run_in_executor(self._pool, self._run, token, self._clock()))
            self._inflight[key] = task
            task.add_done_callback(partial(self._settled, key))
        # Shielded: a caller that hangs up, or stops waiting, must not cancel the validation others wait for;
        # it goes on and fills the cache. Keystoneauth gets one service token at a time, so a hung Keystone
        # would add up timeouts: the deadline bounds each request's wait.
        try:
            verdict = await asyncio.wait_for(asyncio.shield(task), self._deadline)
        except TimeoutError:
            log.warning("token %s: no answer from Keystone within %g s", key[:12], self._deadline)
            raise AuthUnavailable(f"cannot validate the token: Keystone did not answer within {self._deadline:g} s; "
                                  "try again later") from None
        return verdict.result()

    def _run(self, token: str, queued_at: float) -> Verdict:
        if self._clock() - queued_at > self._deadline:  # waited for a thread until its caller gave up
            raise AuthUnavailable("cannot validate the token: Keystone is slow; try again later")
        return self.validate(token)

    def _settled(self, key: str, task: asyncio.Future[Verdict]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # failures to reach Keystone are never cached
        verdict = task.result()
        ttl = self._ttl
        if verdict.expires_at is not None:
            ttl = min(ttl, (verdict.expires_at - datetime.now(UTC)).total_seconds())
        if ttl <= 0:
            return
        self._cache[key] = _Cached(self._clock() + ttl, verdict)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    def validate(self, token: str) -> Verdict:
        """One blocking `GET /v3/auth/tokens`. Raises AuthUnavailable when Keystone cannot answer."""
        from keystoneauth1 import access
        from keystoneauth1 import exceptions as ksa_exc

        short = fingerprint(token)[:12]
        try:
            resp = self._session.get("/auth/tokens", headers={"X-Subject-Token": token},
                                     params={"nocatalog": "1"}, endpoint_filter=self._endpoint_filter,
                                     raise_exc=False)
        except ksa_exc.HttpError as e:  # while getting Fenix's own token
            if e.http_status in (401, 403):
                log.error("Keystone refused Fenix's service credentials (%s %s); check FENIX_KEYSTONE_*",
                          e.http_status, e.message)
                raise AuthUnavailable("cannot validate the token: Keystone refused Fenix's own service "
                                      "credentials; see the API log") from None
            log.warning("Keystone failed while authenticating Fenix: %s %s", e.http_status, e.message)
            raise AuthUnavailable(f"cannot validate the token: Keystone answered {e.http_status}; "
                                  "try again later") from None
        except ksa_exc.EndpointNotFound as e:
            log.error("no identity endpoint in the Keystone catalog (%s): %s", self._endpoint_filter, e)
            raise AuthUnavailable("cannot validate the token: Keystone's catalog has no identity endpoint "
                                  "for Fenix's settings; see the API log") from None
        except (ksa_exc.ClientException, OSError) as e:  # connect failures, timeouts, TLS, discovery
            log.warning("Keystone unreachable: %s: %s", type(e).__name__, e)
            raise AuthUnavailable("cannot validate the token: Keystone is unreachable; try again later") from None

        status = resp.status_code
        if status == 404:
            log.info("token %s refused by Keystone: %s", short, _keystone_message(resp))
            return Verdict(reason="invalid, expired or revoked token")
        if status in (401, 403):
            # 401 even after keystoneauth re-authenticated: Fenix's own token is refused.
            # 403: Fenix's service user lacks the role that may validate other users' tokens.
            log.error("Keystone answered %s to Fenix's token validation (%s); the service user needs the "
                      "`service` role", status, _keystone_message(resp))
            raise AuthUnavailable("cannot validate the token: Fenix's service user may not validate tokens "
                                  "in Keystone; see the API log")
        if status != 200:
            log.warning("Keystone answered %s to a token validation: %s", status, _keystone_message(resp))
            raise AuthUnavailable(f"cannot validate the token: Keystone answered {status}; try again later")
        try:
            return self._verdict(access.create(body=resp.json(), auth_token=token), short)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("Keystone sent an unreadable token validation: %s: %s", type(e).__name__, e)
            raise AuthUnavailable("cannot validate the token: Keystone sent an unreadable answer") from None

    def _verdict(self, info: Any, short: str) -> Verdict:
        expires: datetime | None = info.expires
        if not info.project_scoped:
            scope = "system" if info.system_scoped else "domain" if info.domain_scoped else "no"
            log.info("token %s of user %s refused: %s scope", short, info.username, scope)
            return Verdict(reason=f"the token has {scope} scope; Fenix needs a project-scoped token "
                                  "(issue it with a project, e.g. OS_PROJECT_NAME)", expires_at=expires)
        keystone_roles = set(info.role_names or ())
        roles = [fenix_role for fenix_role, role in ((ADMIN_ROLE, self._admin_role),
                                                     (SERVICE_ROLE, self._service_role)) if role in keystone_roles]
        principal = Principal(name=info.username or info.user_id or "", project_id=info.project_id, roles=roles)
        log.debug("token %s: user %s, project %s, roles %s", short, principal.name, principal.project_id, roles)
        return Verdict(principal=principal, expires_at=expires)

    async def check(self) -> str:
        """Ready when Fenix's service user gets a token and Keystone validates it: the path each request's token
        takes. The verdict is reused for KEYSTONE_READY_TTL_S; probes that come meanwhile share one try, which goes
        on (and fills the verdict) when a probe gives up on it."""
        cached = self._ready
        if cached is None or cached[0] <= self._clock():
            if self._ready_probe is None or self._ready_probe.done():
                loop = asyncio.get_running_loop()
                self._ready_probe = asyncio.ensure_future(loop.run_in_executor(self._pool, self._self_check))
            ready, detail = await asyncio.shield(self._ready_probe)
            cached = self._ready = (self._clock() + KEYSTONE_READY_TTL_S, ready, detail)
        if not cached[1]:
            raise NotReady(cached[2])
        return cached[2]

    def _self_check(self) -> tuple[bool, str]:
        from keystoneauth1 import exceptions as ksa_exc

        try:
            token = self._session.get_token()
        except ksa_exc.HttpError as e:
            return False, f"Keystone refused Fenix's service credentials ({e.http_status}); check FENIX_KEYSTONE_*"
        except (ksa_exc.ClientException, OSError) as e:
            return False, f"Keystone is unreachable ({type(e).__name__})"
        if not token:
            return False, "Keystone gave Fenix's service user no token"
        try:
            self.validate(token)
        except AuthUnavailable as e:
            return False, e.reason
        return True, "Keystone validates tokens"

    def cached(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _keystone_message(resp: Any) -> str:
    try:
        return str(resp.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return str(resp.text)[:300]


def keystone_session(settings: Settings) -> tuple[Session, str | None, str | None]:
    """Fenix's own keystoneauth1 session, its auth URL and region: from a clouds.yaml cloud or FENIX_KEYSTONE_*."""
    from keystoneauth1 import exceptions as ksa_exc
    from keystoneauth1 import session as ksa_session
    from keystoneauth1.identity import v3

    region = settings.keystone_region_name
    if settings.keystone_cloud:
        import openstack.config
        from openstack import exceptions as sdk_exc

        try:
            cloud = openstack.config.OpenStackConfig().get_one(cloud=settings.keystone_cloud, region_name=region or "")
            session: ksa_session.Session = cloud.get_session()
        except (sdk_exc.SDKException, ksa_exc.ClientException, ValueError, OSError) as e:
            raise AuthConfigError(f"FENIX_KEYSTONE_CLOUD={settings.keystone_cloud!r}: {e}") from None
        auth_url = cloud.config.get("auth", {}).get("auth_url")
        region = region or cloud.region_name or None
    else:
        if not settings.keystone_auth_url or settings.keystone_password is None:
            raise AuthConfigError("FENIX_AUTH_MODE=keystone needs FENIX_KEYSTONE_CLOUD (a clouds.yaml cloud), or "
                                  "FENIX_KEYSTONE_AUTH_URL and FENIX_KEYSTONE_PASSWORD")
        auth_url = settings.keystone_auth_url
        auth = v3.Password(auth_url=auth_url, username=settings.keystone_username,
                           password=settings.keystone_password.get_secret_value(),
                           project_name=settings.keystone_project_name,
                           user_domain_name=settings.keystone_user_domain_name,
                           project_domain_name=settings.keystone_project_domain_name)
        verify: bool | str = str(settings.keystone_cafile) if settings.keystone_cafile else True
        session = ksa_session.Session(auth=auth, verify=verify)
    session.timeout = settings.keystone_timeout_s
    return session, auth_url, region
