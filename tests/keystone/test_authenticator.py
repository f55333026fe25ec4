"""KeystoneAuthenticator without a Keystone: the cache (TTL, size bound, token expiry, hashed keys), the shared
in-flight validation, the role mapping of real token bodies, and start-up errors."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.auth import (
    AuthConfigError,
    AuthRejected,
    AuthUnavailable,
    KeystoneAuthenticator,
    Principal,
    TokenAuthenticator,
    Verdict,
    fingerprint,
    make_authenticator,
)
from fenix.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeKeystone:
    """Stands in for `validate`: counts calls, can block, answers from a table."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.answers: dict[str, Verdict | Exception] = {}

    def __call__(self, token: str) -> Verdict:
        self.calls.append(token)
        self.release.wait(5)
        answer = self.answers.get(token, Verdict(principal=Principal(name=token, project_id="p", roles=[])))
        if isinstance(answer, Exception):
            raise answer
        return answer


def authenticator(ttl: float = 60, size: int = 100) -> tuple[KeystoneAuthenticator, FakeKeystone, Clock]:
    clock = Clock()
    auth = KeystoneAuthenticator(None, cache_ttl_s=ttl, cache_size=size, clock=clock)  # type: ignore[arg-type]
    fake = FakeKeystone()
    auth.validate = fake  # type: ignore[method-assign]
    return auth, fake, clock


async def test_cache_ttl_and_negative_answers() -> None:
    auth, fake, clock = authenticator(ttl=60)
    fake.answers["bad"] = Verdict(reason="invalid, expired or revoked token")
    assert (await auth.verify("good")).name == "good"
    assert (await auth.verify("good")).name == "good"
    for _ in range(2):
        with pytest.raises(AuthRejected, match="revoked"):
            await auth.verify("bad")
    assert fake.calls == ["good", "bad"]
    clock.now += 61
    await auth.verify("good")
    assert fake.calls == ["good", "bad", "good"]
    auth.close()


async def test_cache_is_bounded_lru_and_keyed_by_hash() -> None:
    auth, fake, _ = authenticator(size=3)
    for t in ("t1", "t2", "t3"):
        await auth.verify(t)
    await auth.verify("t1")  # most recently used now
    await auth.verify("t4")  # evicts t2, the least recently used
    assert auth.cached() == 3
    assert set(auth._cache) == {fingerprint(t) for t in ("t1", "t3", "t4")}
    await auth.verify("t1")
    await auth.verify("t2")
    assert fake.calls == ["t1", "t2", "t3", "t4", "t2"]
    auth.close()


async def test_cache_never_outlives_the_token() -> None:
    auth, fake, clock = authenticator(ttl=60)
    soon = datetime.now(UTC) + timedelta(seconds=5)
    fake.answers["short"] = Verdict(principal=Principal(name="s", project_id="p", roles=[]), expires_at=soon)
    fake.answers["gone"] = Verdict(principal=Principal(name="g", project_id="p", roles=[]),
                                   expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await auth.verify("short")
    clock.now += 4
    await auth.verify("short")
    clock.now += 2  # past the token's expiry, well within the TTL
    await auth.verify("short")
    await auth.verify("gone")
    await auth.verify("gone")
    assert fake.calls == ["short", "short", "gone", "gone"]
    auth.close()


async def test_zero_ttl_disables_the_cache() -> None:
    auth, fake, _ = authenticator(ttl=0)
    await auth.verify("a")
    await auth.verify("a")
    assert fake.calls == ["a", "a"] and auth.cached() == 0
    auth.close()


async def test_concurrent_requests_share_one_validation_and_failures_are_not_cached() -> None:
    auth, fake, _ = authenticator()
    fake.release.clear()
    waiters = [asyncio.create_task(auth.verify("same")) for _ in range(20)]
    await asyncio.sleep(0.05)
    waiters[0].cancel()  # a caller hanging up does not cancel the others' validation
    fake.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, Principal) for r in results[1:])
    assert fake.calls == ["same"]

    fake.answers["down"] = AuthUnavailable("cannot validate the token: Keystone is unreachable; try again later")
    for _ in range(2):
        with pytest.raises(AuthUnavailable):
            await auth.verify("down")
    assert fake.calls == ["same", "down", "down"]
    auth.close()


async def test_odd_tokens_never_reach_keystone() -> None:
    auth, fake, _ = authenticator()
    for token in ("caf\u00e9", "x" * 10000):
        with pytest.raises(AuthRejected, match="invalid token"):
            await auth.verify(token)
    assert fake.calls == []
    auth.close()


def token_body(*, roles: list[str], project: bool = True, domain: bool = False) -> dict[str, Any]:
    """A Keystone v3 token validation body (as GET /v3/auth/tokens?nocatalog returns it)."""
    token: dict[str, Any] = {
        "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2026-01-01T00:00:00Z",
        "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
        "audit_ids": ["x"]}
    if project:
        token["project"] = {"id": "p1", "name": "web", "domain": {"id": "default", "name": "Default"}}
    if domain:
        token["domain"] = {"id": "default", "name": "Default"}
    if project or domain:
        token["roles"] = [{"id": r, "name": r} for r in roles]
    return {"token": token}


def mapped(body: dict[str, Any], **kw: Any) -> Verdict:
    from keystoneauth1 import access

    auth = KeystoneAuthenticator(None, **kw)  # type: ignore[arg-type]
    try:
        return auth._verdict(access.create(body=body, auth_token="t"), "abc")
    finally:
        auth.close()


def test_role_mapping() -> None:
    v = mapped(token_body(roles=["member", "reader"]))
    assert v.principal == Principal(name="alice", project_id="p1", roles=[])
    assert v.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    p = mapped(token_body(roles=["admin", "member"])).principal
    assert p is not None and p.is_admin and p.project_id == "p1"
    p = mapped(token_body(roles=["service"])).principal
    assert p is not None and p.is_service and not p.is_admin
    # Configured role names.
    p = mapped(token_body(roles=["admin", "cloud-admin", "infra"]), admin_role="cloud-admin",
               service_role="infra").principal
    assert p is not None and p.roles == ["admin", "service"]
    p = mapped(token_body(roles=["admin"]), admin_role="cloud-admin").principal
    assert p is not None and not p.is_admin


def test_only_project_scoped_tokens() -> None:
    assert "no scope" in mapped(token_body(roles=[], project=False)).reason
    assert "domain scope" in mapped(token_body(roles=["admin"], project=False, domain=True)).reason
    assert mapped(token_body(roles=["admin"], project=False, domain=True)).principal is None


def test_start_up_errors_and_default_mode(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="FENIX_KEYSTONE_AUTH_URL and FENIX_KEYSTONE_PASSWORD"):
        make_authenticator(Settings(data_dir=tmp_path, auth_mode="keystone", keystone_cloud=None,
                                    keystone_auth_url="http://keystone:5000/v3", keystone_password=None))
    with pytest.raises(AuthConfigError, match="FENIX_KEYSTONE_CLOUD='no-such-cloud-here'"):
        make_authenticator(Settings(data_dir=tmp_path, auth_mode="keystone", keystone_cloud="no-such-cloud-here"))
    # The default stays the static token file, created with an admin token.
    auth = make_authenticator(Settings(data_dir=tmp_path))
    assert isinstance(auth, TokenAuthenticator) and (tmp_path / "tokens.json").exists()


async def test_deadline_bounds_the_wait_and_the_late_answer_is_kept() -> None:
    clock = Clock()
    auth = KeystoneAuthenticator(None, deadline_s=0.2, clock=clock)  # type: ignore[arg-type]
    fake = FakeKeystone()
    auth.validate = fake  # type: ignore[method-assign]
    fake.release.clear()
    with pytest.raises(AuthUnavailable, match="did not answer within 0.2 s"):
        await auth.verify("slow")
    fake.release.set()
    for _ in range(100):  # the validation goes on in its thread and fills the cache
        if auth.cached():
            break
        await asyncio.sleep(0.01)
    assert (await auth.verify("slow")).name == "slow"
    assert fake.calls == ["slow"]
    # A validation that waited for a thread longer than the deadline does not call Keystone any more.
    with pytest.raises(AuthUnavailable, match="slow"):
        auth._run("late", clock.now - 1)
    assert fake.calls == ["slow"]
    auth.close()
