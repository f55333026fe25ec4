"""API errors over real HTTP on a real (time-skipping) Temporal server: always a 4xx with a JSON `error` that
says why, never a 500.

The VNFMs here are silent: they take every notice and never answer, so a session waits (reply windows of an
hour, and time is not skipped) while the test probes it and answers in the projects' place.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from tests.api.helpers import (
    LONG_WINDOWS,
    answer,
    assert_error,
    detail,
    instance_ids,
    silent,
    two_host_seed,
    wait_asked,
)


@asynccontextmanager
async def probe_stack(env: WorkflowEnvironment, tmp: Path) -> AsyncIterator[Stack]:
    """alpha and beta own one instance each on c0; gamma has a token but no instance anywhere."""
    async with stack(env, tmp, two_host_seed(), silent("alpha", "beta", "gamma")) as st:
        yield st


async def start_waiting(st: Stack) -> str:
    """A session that waits for alpha's and beta's ACK_MAINTENANCE."""
    sid = await st.start(hosts=["c0", "c1"], reply_windows=LONG_WINDOWS)
    await wait_asked(st, sid, "alpha", "MAINTENANCE")
    await wait_asked(st, sid, "beta", "MAINTENANCE")
    return sid


def unauthenticated(st: Stack, headers: dict[str, Any] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=st.api_url, headers=headers, timeout=30)


async def test_missing_or_bad_token_is_401(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = str(uuid.uuid4())
        # Valid bodies where there is one, so that only the credentials can be the reason.
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", "/maintenance", None), ("POST", "/maintenance", {"maintenance_at": "2020-01-01 00:00:00"}),
            ("GET", f"/maintenance/{sid}", None), ("DELETE", f"/maintenance/{sid}", None),
            ("GET", f"/maintenance/{sid}/detail", None), ("GET", f"/maintenance/{sid}/alpha", None),
            ("PUT", f"/maintenance/{sid}/alpha", {"state": "ACK_MAINTENANCE"}), ("GET", "/hosts/c0", None),
            ("GET", "/subscriptions", None), ("POST", "/subscriptions", {"url": "http://127.0.0.1:9/x"})]
        no_token = unauthenticated(st)
        bad_token = unauthenticated(st, {"X-Auth-Token": "not-a-token"})
        bad_bearer = unauthenticated(st, {"Authorization": "Bearer not-a-token"})
        empty_bearer = unauthenticated(st, {"Authorization": "Bearer"})
        basic = unauthenticated(st, {"Authorization": "Basic YWRtaW46YWRtaW4="})
        # Bytes no token file holds (a token is URL-safe ASCII): must be refused, not crash the comparison.
        non_ascii = unauthenticated(st, {"X-Auth-Token": "caf\u00e9-\u2603".encode()})
        async with no_token, bad_token, bad_bearer, empty_bearer, basic, non_ascii:
            for method, path, body in calls:
                for http, why in ((no_token, "missing token"), (empty_bearer, "missing token"),
                                  (basic, "missing token"), (bad_token, "invalid token"),
                                  (bad_bearer, "invalid token"), (non_ascii, "invalid token")):
                    r = await http.request(method, path, json=body)
                    assert_error(r, 401, why)
                    assert r.headers.get("www-authenticate") == "Bearer", (method, path)
        # The admin token works both ways it may be sent: an unknown session is then a 404, not a 401.
        token = st.admin.headers["X-Auth-Token"]
        async with unauthenticated(st, {"Authorization": f"Bearer {token}"}) as bearer:
            assert_error(await bearer.get(f"/maintenance/{sid}"), 404, sid)
        # An empty X-Auth-Token (an unfilled client template) does not hide a good bearer token.
        async with unauthenticated(st, {"X-Auth-Token": "", "Authorization": f"Bearer {token}"}) as both:
            assert_error(await both.get(f"/maintenance/{sid}"), 404, sid)
        assert_error(await st.admin.get(f"/maintenance/{sid}"), 404, sid)
        # The router's own errors have the same body shape as ours.
        assert_error(await st.admin.get("/no-such-path"), 404, "Not Found")
        assert_error(await st.admin.patch("/maintenance"), 405, "Method Not Allowed")


async def test_project_token_on_admin_endpoints_is_403(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        async with st.as_project("alpha") as alpha:
            assert_error(await alpha.post("/maintenance", json={"maintenance_at": "2020-01-01 00:00:00"}), 403,
                         "admin")
            assert_error(await alpha.get("/maintenance"), 403, "admin")
            assert_error(await alpha.get(f"/maintenance/{sid}"), 403, "admin")
            assert_error(await alpha.put(f"/maintenance/{sid}", json={}), 403, "admin")
            assert_error(await alpha.get(f"/maintenance/{sid}/detail"), 403, "admin")
            assert_error(await alpha.delete(f"/maintenance/{sid}"), 403, "admin")
            # Host status is for the admin and infrastructure services.
            assert_error(await alpha.get("/hosts/c0"), 403, "service")
        # The refused DELETE did not abort anything: the session still waits, nothing was disabled.
        d = await detail(st, sid)
        assert d["state"] == "MAINTENANCE" and not d["aborted"]
        assert all(h.enabled for h in st.cloud.snapshot().hosts)


async def test_a_project_cannot_act_for_another(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        async with st.as_project("alpha") as alpha, st.as_project("beta") as beta:
            assert_error(await alpha.get(f"/maintenance/{sid}/beta"), 403, "only see and answer for itself")
            assert_error(await alpha.put(f"/maintenance/{sid}/beta", json={"state": "ACK_MAINTENANCE"}), 403,
                         "only see and answer for itself")
            # Naming the other project in the body of an own-URL reply does not work either.
            assert_error(await alpha.put(f"/maintenance/{sid}/alpha",
                                         json={"state": "ACK_MAINTENANCE", "project_id": "beta"}), 422,
                         "does not match the URL")
            # Subscriptions: not for another project, and host events are not for projects at all.
            assert_error(await alpha.post("/subscriptions", json={"url": "http://127.0.0.1:9/x",
                                                                  "project_id": "beta"}), 403, "for itself")
            assert_error(await alpha.post("/subscriptions", json={"url": "http://127.0.0.1:9/x",
                                                                  "event_types": ["maintenance.host"]}), 403,
                         "maintenance.host")
            assert_error(await alpha.get("/subscriptions", params={"project_id": "beta"}), 403, "its own")
            # beta's subscription (made by the stack) is invisible to alpha and cannot be removed by it.
            subs = (await beta.get("/subscriptions")).json()["subscriptions"]
            assert [s["project_id"] for s in subs] == ["beta"]
            assert_error(await alpha.get(f"/subscriptions/{subs[0]['id']}"), 404, subs[0]["id"])
            assert_error(await alpha.delete(f"/subscriptions/{subs[0]['id']}"), 404, subs[0]["id"])
            assert [s["id"] for s in (await beta.get("/subscriptions")).json()["subscriptions"]] == [subs[0]["id"]]
            assert_error(await st.admin.delete("/subscriptions/no-such-subscription"), 404, "no-such-subscription")

            # Own requests do work: the refusals above were about the other project, not the call.
            r = await alpha.get(f"/maintenance/{sid}/alpha")
            assert r.status_code == 200, r.text
            assert r.json()["instance_ids"] == instance_ids(await detail(st, sid), "alpha")
        # None of the refused replies reached the session.
        d = await detail(st, sid)
        assert not [h for h in d["history"] if h["kind"] == "reply"], d["history"]
        assert all(p["awaiting"] for p in d["projects"])


async def test_bad_session_bodies_are_422_with_a_reason(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    ok = {"maintenance_at": "2020-01-01 00:00:00", "hosts": ["c0", "c1"]}
    cases: list[tuple[str, Any, tuple[str, ...]]] = [
        ("unknown workflow", {**ok, "workflow": "nope"}, ("workflow", "unknown workflow 'nope'", "default")),
        ("bad maintenance_at", {**ok, "maintenance_at": "next tuesday"},
         ("maintenance_at", "'next tuesday' is neither 'YYYY-MM-DD HH:MM:SS' (UTC) nor ISO 8601")),
        ("impossible date", {**ok, "maintenance_at": "2030-02-30 10:00:00"}, ("maintenance_at", "neither")),
        ("maintenance_at not a string", {**ok, "maintenance_at": 1700000000}, ("maintenance_at", "time string")),
        ("no maintenance_at", {"hosts": ["c0"]}, ("maintenance_at", "required")),
        ("negative reply window", {**ok, "reply_windows": {"maintenance": -5}},
         ("reply_windows.maintenance", "greater than 0")),
        ("zero reply window", {**ok, "reply_windows": {"prepare": 0}}, ("reply_windows.prepare", "greater than 0")),
        # Windows the workflow could not use (infinity reaches it as null; a deadline past year 9999 overflows).
        ("infinite reply window", {**ok, "reply_windows": {"maintenance": "inf"}},
         ("reply_windows", "maintenance: at most 2592000 seconds")),
        ("endless reply window", {**ok, "reply_windows": {"complete": 1e12}}, ("reply_windows", "complete: at most")),
        ("time out of range in UTC", {**ok, "maintenance_at": "9999-12-31T23:59:59-05:00"},
         ("maintenance_at", "out of range")),
        ("time before year 1 in UTC", {**ok, "maintenance_at": "0001-01-01T00:00:00+05:00"},
         ("maintenance_at", "out of range")),
        ("unknown plug-in", {**ok, "actions": [{"plugin": "nope", "type": "pre"}]},
         ("actions[0]: unknown plug-in 'nope'", "available:", "dummy")),
        ("bad plug-in metadata", {**ok, "actions": [{"plugin": "dummy", "type": "host", "metadata": {"second": 1}}]},
         ("actions[0] (dummy)", "invalid metadata", "second")),
        ("bad action type", {**ok, "actions": [{"plugin": "dummy", "type": "sometimes"}]}, ("actions.0.type",)),
        ("unknown default action", {**ok, "default_action": "REBOOT"}, ("default_action",)),
        ("EVICTION as default", {**ok, "default_action": "EVICTION"}, ("default_action", "EVICTION is not")),
        ("too many scale-in rounds", {**ok, "max_scale_in_rounds": 99}, ("max_scale_in_rounds", "20")),
        ("no parallel hosts", {**ok, "workflow": "vnf", "max_parallel_hosts": 0}, ("max_parallel_hosts", "1")),
        ("warn_ahead not a bool", {**ok, "workflow": "vnf", "warn_ahead": "sometimes"}, ("warn_ahead",)),
        ("zero move poll", {**ok, "move_retry": {"poll_s": 0}}, ("move_retry.poll_s", "greater than 0")),
        ("other start state", {**ok, "state": "PLANNED_MAINTENANCE"}, ("state", "always starts in MAINTENANCE")),
        ("duplicate hosts", {**ok, "hosts": ["c0", "c0"]}, ("hosts", "duplicate host(s): c0")),
        ("empty host name", {**ok, "hosts": ["c0", " "]}, ("hosts", "must not be empty")),
        ("unknown key", {**ok, "host": ["c0"]}, ("host", "extra")),
        ("not an object", ["c0"], ("object",)),
    ]
    async with probe_stack(ts_env, tmp_path) as st:
        for name, body, fragments in cases:
            r = await st.admin.post("/maintenance", json=body)
            error = assert_error(r, 422, *fragments)
            # FastAPI-style `detail` too: a list of {loc, msg, type} without echoing the input back.
            assert isinstance(r.json()["detail"], list) and r.json()["detail"], (name, r.json())
            assert all(set(e) <= {"loc", "msg", "type"} for e in r.json()["detail"]), (name, r.json())
            assert "Traceback" not in error, name
        for raw in (b"{", b"", b"not json", b'{"maintenance_at": "2020-01-01 00:00:00",}'):
            r = await st.admin.post("/maintenance", content=raw, headers={"Content-Type": "application/json"})
            assert_error(r, 422)
        # An unknown host is only known to the cloud: the session starts and then fails saying which host.
        sid = await st.start(hosts=["c0", "nosuchhost"], reply_windows=LONG_WINDOWS)
        d = await st.result(sid, timeout=30)
        assert d.state == "MAINTENANCE_FAILED" and d.reason and "nosuchhost" in d.reason, d.reason
        assert all(h.enabled for h in st.cloud.snapshot().hosts)


async def test_both_time_formats_are_accepted(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    want = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    async with probe_stack(ts_env, tmp_path) as st:
        for text in ("2031-05-06 07:08:09", "2031-05-06T07:08:09Z", "2031-05-06T09:08:09+02:00",
                     "2031-05-06T07:08:09", " 2031-05-06 07:08:09 "):
            sid = await st.start(hosts=["c0"], maintenance_at=text, reply_windows=LONG_WINDOWS)
            d = await detail(st, sid)
            got = datetime.fromisoformat(d["maintenance_at"].replace("Z", "+00:00"))
            assert got == want and got.utcoffset() is not None, (text, d["maintenance_at"])
            assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
            assert (await st.result(sid, timeout=30)).aborted


async def test_unknown_session_is_404(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        await start_waiting(st)  # a session exists: only the id asked for is unknown
        sid = str(uuid.uuid4())
        assert_error(await st.admin.get(f"/maintenance/{sid}"), 404, f"no maintenance session '{sid}'")
        later = {"maintenance_at": "2030-01-01 00:00:00"}
        assert_error(await st.admin.put(f"/maintenance/{sid}", json=later), 404, sid)
        assert_error(await st.admin.delete(f"/maintenance/{sid}"), 404, sid)
        assert_error(await st.admin.get(f"/maintenance/{sid}/detail"), 404, sid)
        assert_error(await st.admin.get(f"/maintenance/{sid}/alpha"), 404, sid)
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE"), 404, sid)
        async with st.as_project("alpha") as alpha:
            assert_error(await alpha.get(f"/maintenance/{sid}/alpha"), 404, sid)
        # Ids that are not even uuids are just as unknown.
        for odd in ("x", "detail", "maint-x", "a%20b"):
            assert_error(await st.admin.get(f"/maintenance/{odd}"), 404)


async def test_replies_in_maintenance_are_validated(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        # Stale: the session waits for MAINTENANCE, not for PLANNED_MAINTENANCE.
        assert_error(await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE"), 409,
                     "stale reply ACK_PLANNED_MAINTENANCE", "waiting for your reply to MAINTENANCE")
        assert_error(await answer(st, sid, "alpha", "NACK_SCALE_IN"), 409, "stale")
        # Not a reply state at all.
        for state in ("YES", "ACK", "ACK_", "ACK_MAINTENANCE_DONE", "MAYBE_MAINTENANCE", "ack_maintenance"):
            assert_error(await answer(st, sid, "alpha", state), 422, "ACK_<STATE> or NACK_<STATE>", state)
        # Instances and actions: nothing is asked about in MAINTENANCE, so nothing may be chosen.
        alpha0 = instance_ids(await detail(st, sid), "alpha")[0]
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_actions={alpha0: "MIGRATE"}), 422,
                     alpha0, "not among those asked about: none")
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_action="MIGRATE"), 422,
                     "MIGRATE not allowed in MAINTENANCE")
        # Malformed bodies are refused by the API itself.
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_action="REBOOT"), 422,
                     "instance_action")
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_actions=["x"]), 422,
                     "instance_actions")
        async with st.as_project("alpha") as alpha:
            assert_error(await alpha.put(f"/maintenance/{sid}/alpha", json={"instance_action": "MIGRATE"}), 422,
                         "state", "required")
            for raw in (b"{", b"", b'["ACK_MAINTENANCE"]'):
                r = await alpha.put(f"/maintenance/{sid}/alpha", content=raw,
                                    headers={"Content-Type": "application/json"})
                assert_error(r, 422)
        # An oversized reply is refused at once (it would overflow Temporal's payload limit in the session);
        # one just under the limit still reaches the session's validator.
        big = {f"instance-{n:06d}": "MIGRATE" for n in range(12000)}
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_actions=big), 413, "larger than")
        fewer = dict(list(big.items())[:6000])
        assert_error(await answer(st, sid, "alpha", "ACK_MAINTENANCE", instance_actions=fewer), 422,
                     "instance-000000", "not among those asked about")
        # A project of no instance in the session.
        assert_error(await answer(st, sid, "gamma", "ACK_MAINTENANCE"), 404, "'gamma' has no instances")
        async with st.as_project("gamma") as gamma:
            assert_error(await gamma.get(f"/maintenance/{sid}/gamma"), 404, "gamma has no instances")
        # The validator refused all of that before anything was written: no reply in the history.
        d = await detail(st, sid)
        assert not [h for h in d["history"] if h["kind"] == "reply"], d["history"]
        assert d["state"] == "MAINTENANCE" and all(p["awaiting"] for p in d["projects"])

        # A good reply is taken, and then it is no longer awaited: the same reply again is a retry (200, nothing
        # applied twice, tests/api/test_reply_retry.py); a different one is stale.
        r = await answer(st, sid, "alpha", "ACK_MAINTENANCE", session_id=sid)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "ACK_MAINTENANCE"
        assert_error(await answer(st, sid, "alpha", "NACK_MAINTENANCE"), 409, "not waiting for a reply from you")
        replies = [h for h in (await detail(st, sid))["history"] if h["kind"] == "reply"]
        assert [(h["project_id"], h["state"]) for h in replies] == [("alpha", "ACK_MAINTENANCE")]


async def test_replies_about_instances_are_validated(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        for pid in ("alpha", "beta"):
            r = await answer(st, sid, pid, "ACK_MAINTENANCE")
            assert r.status_code == 200, r.text
        # c1 is empty and maintained first; then c0 is emptied and its owners asked.
        d = await wait_asked(st, sid, "alpha", "PLANNED_MAINTENANCE")
        alpha0, beta0 = instance_ids(d, "alpha")[0], instance_ids(d, "beta")[0]
        async with st.as_project("alpha") as alpha:
            r = await alpha.get(f"/maintenance/{sid}/alpha")
            assert r.status_code == 200 and r.json()["instance_ids"] == [alpha0], r.text
        assert_error(await answer(st, sid, "alpha", "ACK_PREPARE_MAINTENANCE"), 409,
                     "waiting for your reply to PLANNED_MAINTENANCE")
        # The answer it gave to MAINTENANCE, sent again, is a retry (200, nothing applied); a different one is stale.
        assert (await answer(st, sid, "alpha", "ACK_MAINTENANCE")).status_code == 200
        assert_error(await answer(st, sid, "alpha", "NACK_MAINTENANCE"), 409, "stale")
        # Another project's instance, or one that does not exist, was not asked about.
        for other in (beta0, "no-such-instance"):
            assert_error(await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions={other: "MIGRATE"}),
                         422, other, f"not among those asked about: {alpha0}")
        # EVICTION is an action, but not one this notice allows.
        assert_error(await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions={alpha0: "EVICTION"}),
                     422, "EVICTION not allowed in PLANNED_MAINTENANCE", "MIGRATE")
        assert_error(await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_action="EVICTION"),
                     422, "EVICTION not allowed")
        # Still waiting, nothing recorded for alpha since its ACK_MAINTENANCE; a valid answer is then taken.
        d = await detail(st, sid)
        assert [h["state"] for h in d["history"] if h["kind"] == "reply" and h["project_id"] == "alpha"] == \
            ["ACK_MAINTENANCE"]
        r = await answer(st, sid, "alpha", "ACK_PLANNED_MAINTENANCE", instance_actions={alpha0: "LIVE_MIGRATE"})
        assert r.status_code == 200, r.text
        assert r.json() == {"state": "ACK_PLANNED_MAINTENANCE", "instance_actions": {alpha0: "LIVE_MIGRATE"}}


async def test_reply_to_an_ended_session_is_409(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with probe_stack(ts_env, tmp_path) as st:
        sid = await start_waiting(st)
        r = await st.admin.delete(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json() == {"session_id": sid, "aborting": True}, r.text
        ended = await st.result(sid, timeout=30)
        assert ended.state == "MAINTENANCE_FAILED" and ended.aborted
        # Every reply to it is refused the same way, whatever it says.
        for state in ("ACK_MAINTENANCE", "NACK_MAINTENANCE", "ACK_MAINTENANCE_COMPLETE", "YES"):
            assert_error(await answer(st, sid, "alpha", state), 409, f"session {sid} has ended")
        # ... while reading it still works, and says how it ended.
        r = await st.admin.get(f"/maintenance/{sid}")
        assert r.status_code == 200 and r.json()["state"] == "MAINTENANCE_FAILED", r.text
        assert r.json()["reason"] == "aborted by the admin"
        async with st.as_project("alpha") as alpha:
            r = await alpha.get(f"/maintenance/{sid}/alpha")
            assert r.status_code == 200 and r.json()["instance_ids"] == instance_ids(ended.model_dump(), "alpha")
            assert_error(await alpha.get(f"/maintenance/{sid}/beta"), 403)
        async with st.as_project("gamma") as gamma:
            assert_error(await gamma.get(f"/maintenance/{sid}/gamma"), 404, "gamma has no instances")
