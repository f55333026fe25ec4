"""Shared bits of the API tests: a small cloud, silent VNFMs, error-body checks and bounded polls over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from demo.stack import Stack
from demo.vnfm import VnfmProject
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from tests.waiting import poll

# Windows no test waits out: a silent project keeps the session waiting while the test probes it.
LONG_WINDOWS = {"maintenance": 3600, "scale_in": 3600, "prepare": 3600, "complete": 3600, "own_action": 3600}


def two_host_seed(busy: str = "c0", empty: str = "c1") -> SimSeed:
    """`busy` holds one instance of alpha and one of beta; `empty` has room for both."""
    return SimSeed(hosts=[SimHostSpec(name=busy, vcpus=4, memory_mb=8192),
                          SimHostSpec(name=empty, vcpus=4, memory_mb=8192)],
                   servers=[SimServerSpec(name="alpha-0", project_id="alpha", vcpus=1, memory_mb=512, host=busy),
                            SimServerSpec(name="beta-0", project_id="beta", vcpus=1, memory_mb=512, host=busy)])


def silent(*project_ids: str) -> list[VnfmProject]:
    """VNFMs that take the notices (delivery succeeds) and never answer: the test answers in their place."""
    return [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in project_ids]


def assert_error(r: httpx.Response, status: int, *fragments: str) -> str:
    """A JSON error body with the status asked for and an `error` that says why (never a 500)."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:1000]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    body = r.json()
    error = body.get("error")
    assert isinstance(error, str) and error.strip(), body
    for fragment in fragments:
        assert fragment.lower() in error.lower(), f"{fragment!r} not in error {error[:1000]!r}"
    return error


async def detail(st: Stack, sid: str) -> dict[str, Any]:
    r = await st.admin.get(f"/maintenance/{sid}/detail")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_asked(st: Stack, sid: str, project_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
    """Wait until the session awaits `project_id`'s reply to `state`; returns the session detail then."""

    async def asked() -> dict[str, Any] | None:
        d = await detail(st, sid)
        p = next((p for p in d["projects"] if p["project_id"] == project_id), None)
        return d if p is not None and p["awaiting"] and p["state"] == state else None

    found: dict[str, Any] = await poll(asked, f"session {sid} to ask {project_id} for {state}", timeout)
    return found


async def answer(st: Stack, sid: str, project_id: str, state: str, **extra: Any) -> httpx.Response:
    """PUT a reply as the project itself (its own token)."""
    async with st.as_project(project_id) as http:
        return await http.put(f"/maintenance/{sid}/{project_id}", json={"state": state, **extra})


def instance_ids(d: dict[str, Any], project_id: str) -> list[str]:
    return sorted(i["instance_id"] for i in d["instances"] if i["project_id"] == project_id)
