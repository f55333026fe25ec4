"""What needs Temporal visibility (listing, search attributes, deletion) on the real dev server, over HTTP.

The dev server is shared by the whole test run, so every test here uses host names of its own (a session
over hosts another test holds would be refused) and aborts what it started, whatever happens.
Visibility lags the workflows by up to about a second: reads of it are polled, with a bound.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from fenix import tokens
from fenix.cloud.simulated import SimHostSpec, SimSeed, SimServerSpec
from fenix.constants import session_workflow_id
from fenix.tokens import SERVICE_ROLE
from tests.api.helpers import LONG_WINDOWS, answer, assert_error, detail, instance_ids, silent, wait_asked
from tests.waiting import poll

VISIBILITY_S = 10  # bound on visibility lag (about a second in practice)
DELETE_S = 20  # bound on a deletion (a few seconds: `dev_env` acknowledges queues every second)


def unique_hosts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"h{tag}-{i}" for i in range(n)]


def seed(hosts: list[str], servers: dict[str, str]) -> SimSeed:
    """`servers`: server name -> host; the project is the name's prefix (alpha-0 belongs to alpha)."""
    return SimSeed(hosts=[SimHostSpec(name=h, vcpus=4, memory_mb=8192) for h in hosts],
                   servers=[SimServerSpec(name=name, project_id=name.split("-")[0], vcpus=1, memory_mb=512, host=host)
                            for name, host in servers.items()])


@asynccontextmanager
async def cleaned_up(st: Stack) -> AsyncIterator[list[str]]:
    """Sessions appended to the list are aborted at the end if they still run (the dev server is shared)."""
    started: list[str] = []
    try:
        yield started
    finally:
        for sid in started:
            r = await st.admin.get(f"/maintenance/{sid}")
            if r.status_code == 200 and r.json()["state"] not in ("MAINTENANCE_DONE", "MAINTENANCE_FAILED"):
                await st.admin.delete(f"/maintenance/{sid}")
                await st.result(sid, timeout=30)


async def listed(st: Stack) -> list[str]:
    r = await st.admin.get("/maintenance")
    assert r.status_code == 200, r.text
    ids: list[str] = r.json()["sessions"]
    return ids


def _free(status: dict[str, Any]) -> dict[str, Any]:
    """What says whether the host is out of service (the rest is its window: tests/api/test_hosts.py)."""
    return {k: status[k] for k in ("host", "in_maintenance", "sessions", "state")}


async def host_status(http: httpx.AsyncClient, host: str) -> dict[str, Any]:
    r = await http.get(f"/hosts/{host}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["host"] == host
    return body


async def test_list_shows_started_sessions_newest_first(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    a, b = unique_hosts(2)
    async with stack(dev_env, tmp_path, seed([a, b], {"alpha-0": a, "beta-0": b}), silent("alpha", "beta")) as st, \
            cleaned_up(st) as started:
        older = await st.start(hosts=[a], reply_windows=LONG_WINDOWS)
        started.append(older)
        newer = await st.start(hosts=[b], reply_windows=LONG_WINDOWS)
        started.append(newer)
        await wait_asked(st, older, "alpha", "MAINTENANCE")
        await wait_asked(st, newer, "beta", "MAINTENANCE")

        async def both() -> list[str] | None:
            ids = await listed(st)
            return ids if {older, newer} <= set(ids) else None

        ids = await poll(both, "both sessions in the list", VISIBILITY_S)
        # Bare session ids (not workflow ids), each once, newest first.
        assert ids.index(newer) < ids.index(older), ids
        assert len(ids) == len(set(ids)) and not any(i.startswith("maint-") for i in ids), ids
        for sid in (older, newer):
            r = await st.admin.get(f"/maintenance/{sid}")
            assert r.status_code == 200 and r.json()["state"] == "MAINTENANCE", r.text
            assert r.json()["session_id"] == sid

        # An ended session stays listed (until deleted), and reads as ended.
        r = await st.admin.delete(f"/maintenance/{older}")
        assert r.status_code == 200 and r.json()["aborting"] is True, r.text
        assert (await st.result(older, timeout=30)).aborted
        r = await st.admin.get(f"/maintenance/{older}")
        assert r.json()["state"] == "MAINTENANCE_FAILED" and r.json()["reason"] == "aborted by the admin", r.text
        assert {older, newer} <= set(await listed(st))
        r = await st.admin.get(f"/maintenance/{newer}")
        assert r.json()["state"] == "MAINTENANCE", r.text


async def test_host_is_in_maintenance_while_the_session_has_it_down(dev_env: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    a, b, idle = unique_hosts(3)
    async with stack(dev_env, tmp_path, seed([a, b], {"alpha-0": a, "beta-0": a}), silent("alpha", "beta")) as st, \
            cleaned_up(st) as started:
        # Infrastructure services ask with a token of the service role (not admin).
        service_token = tokens.add(st.settings.tokens_path, project_id="infra", name="monitoring",
                                   roles=[SERVICE_ROLE]).token
        async with httpx.AsyncClient(base_url=st.api_url, headers={"X-Auth-Token": service_token},
                                     timeout=30) as infra:
            sid = await st.start(hosts=[a, b], reply_windows=LONG_WINDOWS)
            started.append(sid)
            for pid in ("alpha", "beta"):
                await wait_asked(st, sid, pid, "MAINTENANCE")
            # Told, not yet taken down.
            assert (await host_status(infra, a))["in_maintenance"] is False
            for pid in ("alpha", "beta"):
                assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
            # b is empty and maintained first; then a is disabled and its owners asked (they stay silent).
            d = await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE")
            assert [h.name for h in st.cloud.snapshot().hosts if not h.enabled] == [a]

            async def down(host: str) -> dict[str, Any] | None:
                s = await host_status(infra, host)
                return s if s["in_maintenance"] else None

            status = await poll(lambda: down(a), f"{a} in maintenance", VISIBILITY_S)
            assert status["sessions"] == [sid]
            # b was maintained and enabled again before a went down: the same record says b is free.
            assert _free(await host_status(infra, b)) == {"host": b, "in_maintenance": False, "sessions": [],
                                                          "state": "MAINTENANCE_COMPLETE"}
            assert _free(await host_status(infra, idle)) == {"host": idle, "in_maintenance": False, "sessions": [],
                                                             "state": "IN_SERVICE"}
            assert (await host_status(st.admin, a))["sessions"] == [sid]  # the admin may ask too
            assert_error(await infra.get("/hosts/bad'name"), 422, "invalid host name")

            # The owners answer; a is emptied, maintained and enabled again while the session still runs.
            for pid in ("alpha", "beta"):
                r = await answer(st, sid, pid, "ACK_PLANNED_MAINTENANCE",
                                 instance_actions=dict.fromkeys(instance_ids(d, pid), "MIGRATE"))
                assert r.status_code == 200, r.text
            await wait_asked(st, sid, "alpha", "MAINTENANCE_COMPLETE")

            async def up(host: str) -> dict[str, Any] | None:
                s = await host_status(infra, host)
                return s if not s["in_maintenance"] else None

            assert (await poll(lambda: up(a), f"{a} back in service", VISIBILITY_S))["sessions"] == []
            r = await st.admin.get(f"/maintenance/{sid}")
            assert r.json()["state"] == "MAINTENANCE_COMPLETE", r.text  # still running: the host alone is free
            for pid in ("alpha", "beta"):
                assert (await answer(st, sid, pid, "ACK_MAINTENANCE_COMPLETE")).status_code == 200
            ended = await st.result(sid, timeout=30)
            assert ended.state == "MAINTENANCE_DONE", ended.reason
            assert (await poll(lambda: up(a), f"{a} free after the end", VISIBILITY_S))["sessions"] == []
            assert all(h.enabled for h in st.cloud.snapshot().hosts)
            assert {s.host for s in st.cloud.snapshot().servers} == {b}


async def test_host_is_free_again_when_the_session_is_aborted(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    a, b = unique_hosts(2)
    async with stack(dev_env, tmp_path, seed([a, b], {"alpha-0": a, "beta-0": a}), silent("alpha", "beta")) as st, \
            cleaned_up(st) as started:
        sid = await st.start(hosts=[a, b], reply_windows=LONG_WINDOWS)
        started.append(sid)
        for pid in ("alpha", "beta"):
            await wait_asked(st, sid, pid, "MAINTENANCE")
            assert (await answer(st, sid, pid, "ACK_MAINTENANCE")).status_code == 200
        await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE")

        async def in_maintenance(want: bool) -> dict[str, Any] | None:
            s = await host_status(st.admin, a)
            return s if s["in_maintenance"] is want else None

        assert (await poll(lambda: in_maintenance(True), f"{a} in maintenance", VISIBILITY_S))["sessions"] == [sid]
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json()["aborting"] is True, r.text
        ended = await st.result(sid, timeout=30)
        assert ended.aborted and ended.state == "MAINTENANCE_FAILED"
        assert (await poll(lambda: in_maintenance(False), f"{a} free after the abort", VISIBILITY_S))["sessions"] == []
        assert all(h.enabled for h in st.cloud.snapshot().hosts)


async def test_delete_of_an_ended_session_forgets_it(dev_env: WorkflowEnvironment,
                                                     tmp_path: Path) -> None:
    (a,) = unique_hosts(1)
    async with stack(dev_env, tmp_path, seed([a], {"alpha-0": a}), silent("alpha")) as st, \
            cleaned_up(st) as started:
        sid = await st.start(hosts=[a], reply_windows=LONG_WINDOWS)
        started.append(sid)
        await wait_asked(st, sid, "alpha", "MAINTENANCE")
        # A running session is aborted, not deleted: it ends cleanly and can still be read.
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json() == {"session_id": sid, "aborting": True}, r.text
        assert (await st.result(sid, timeout=30)).aborted
        assert (await detail(st, sid))["state"] == "MAINTENANCE_FAILED"

        async def present() -> bool:
            return sid in await listed(st)

        await poll(present, f"{sid} in the list", VISIBILITY_S)
        # Now that it has ended, DELETE forgets it.
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json() == {}, r.text

        async def gone() -> bool:
            return (await st.admin.get(f"/maintenance/{sid}")).status_code == 404

        await poll(gone, f"{sid} to be deleted", DELETE_S)

        async def unlisted() -> bool:
            return sid not in await listed(st)

        await poll(unlisted, f"{sid} out of the list", VISIBILITY_S)
        assert_error(await st.admin.get(f"/maintenance/{sid}/detail"), 404, sid)
        assert_error(await st.admin.get(f"/maintenance/{sid}/alpha"), 404, sid)
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE"), 404, sid)
        assert_error(await st.admin.delete(f"/maintenance/{sid}"), 404, sid)


async def test_openapi_and_docs_need_no_token(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(dev_env, tmp_path, seed(unique_hosts(1), {})) as st:
        base = st.api_url.removesuffix("/v1")
        async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
            r = await anonymous.get("/openapi.json")
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
            spec = r.json()
            assert spec["info"]["title"] == "Fenix" and spec["openapi"].startswith("3.")
            paths = spec["paths"]
            expected = {"/v1/maintenance": {"get", "post"},
                        "/v1/maintenance/{session_id}": {"get", "put", "delete"},
                        "/v1/maintenance/{session_id}/detail": {"get"},
                        "/v1/maintenance/{session_id}/detail/hosts": {"get"},
                        "/v1/maintenance/{session_id}/detail/instances": {"get"},
                        "/v1/maintenance/{session_id}/detail/history": {"get"},
                        "/v1/maintenance/{session_id}/{project_id}": {"get", "put"},
                        "/v1/subscriptions": {"get", "post"},
                        "/v1/subscriptions/{subscription_id}": {"get", "delete"},
                        "/v1/hosts/{host}": {"get"}}
            for path, methods in expected.items():
                assert path in paths, sorted(paths)
                assert methods <= set(paths[path]), (path, sorted(paths[path]))
            assert "SessionCreate" in spec["components"]["schemas"]

            r = await anonymous.get("/docs")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
            assert "swagger-ui" in r.text and "/openapi.json" in r.text
            r = await anonymous.get("/redoc")
            assert r.status_code == 200 and "/openapi.json" in r.text
            r = await anonymous.get("/healthz")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
            # ... while the API itself does want a token.
            assert_error(await anonymous.get("/v1/maintenance"), 401, "missing token")


async def listed_with(st: Stack, **params: str) -> list[str]:
    r = await st.admin.get("/maintenance", params=params)
    assert r.status_code == 200, r.text
    ids: list[str] = r.json()["sessions"]
    return ids


async def test_list_filters_by_state_and_host(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    a, b, c = unique_hosts(3)
    async with stack(dev_env, tmp_path, seed([a, b, c], {"alpha-0": a, "beta-0": a, "gamma-0": c}),
                     silent("alpha", "beta", "gamma")) as st, cleaned_up(st) as started:
        down = await st.start(hosts=[a, b], reply_windows=LONG_WINDOWS)
        started.append(down)
        waiting = await st.start(hosts=[c], reply_windows=LONG_WINDOWS)
        started.append(waiting)
        await wait_asked(st, waiting, "gamma", "MAINTENANCE")
        for pid in ("alpha", "beta"):
            await wait_asked(st, down, pid, "MAINTENANCE")
            assert (await answer(st, down, pid, "ACK_MAINTENANCE")).status_code == 200
        await wait_asked(st, down, "alpha", "PLANNED_MAINTENANCE")  # a is out of service now

        async def filtered(want: set[str], absent: set[str], **params: str) -> list[str] | None:
            ids = await listed_with(st, **params)
            return ids if want <= set(ids) and not absent & set(ids) else None

        assert await poll(lambda: filtered({down}, set(), host=a), f"{a} listed", VISIBILITY_S) == [down]
        assert await listed_with(st, host=c) == []  # told, not taken down
        await poll(lambda: filtered({waiting}, {down}, state="MAINTENANCE"), "MAINTENANCE only", VISIBILITY_S)
        await poll(lambda: filtered({down}, {waiting}, state="PLANNED_MAINTENANCE"), "PLANNED only", VISIBILITY_S)
        assert await listed_with(st, state="PLANNED_MAINTENANCE", host=c) == []

        # Ended: listed as failed, no longer as waiting.
        assert (await st.admin.delete(f"/maintenance/{waiting}")).status_code == 200
        await st.result(waiting, timeout=30)
        await poll(lambda: filtered({waiting}, {down}, state="MAINTENANCE_FAILED"), "the abort listed as failed",
                   VISIBILITY_S)
        assert waiting not in await listed_with(st, state="MAINTENANCE")
        # Terminated outside Fenix: its search attribute still says PLANNED_MAINTENANCE; it reads (and lists) as failed.
        await st.client.get_workflow_handle(session_workflow_id(down)).terminate("test: an operator's terminate")
        await poll(lambda: filtered({down, waiting}, set(), state="MAINTENANCE_FAILED"), "the terminated one listed "
                   "as failed", VISIBILITY_S)
        assert down not in await listed_with(st, state="PLANNED_MAINTENANCE")

        assert_error(await st.admin.get("/maintenance", params={"state": "SLEEPING"}), 422)
        assert_error(await st.admin.get("/maintenance", params={"host": "bad'name"}), 422, "invalid host name")
        async with st.as_project("alpha") as alpha:
            assert_error(await alpha.get("/maintenance", params={"host": a}), 403)
