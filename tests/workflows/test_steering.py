"""Steering running sessions over the API (real HTTP, the time-skipping server): pause holds a session and extends
reply deadlines, `pause_after` pauses by itself, `on_failure: pause` parks a failed host for retry or skip, and
`PUT /v1/maintenance/{id}` reschedules a session still waiting for its window."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from demo.stack import Stack, stack
from demo.vnfm import VnfmProject
from fenix.cloud.simulated import SimHostSpec, SimSeed
from fenix.constants import session_workflow_id
from fenix.models.notification import fenix_time
from fenix.models.session import HostPhase, SessionDetail, SessionState
from tests.waiting import poll
from tests.workflows.test_session_flow import PROJECTS, roomy_seed, vnfms
from tests.workflows.test_vnf_flow import constrained
from worker import WORKFLOWS

HOSTS = ["c0", "c1", "c2"]
FOUR = [*HOSTS, "c3"]


async def detail(st: Stack, sid: str) -> SessionDetail:
    r = await st.admin.get(f"/maintenance/{sid}/detail")
    assert r.status_code == 200, r.text
    return SessionDetail.model_validate(r.json())


async def paused(st: Stack, sid: str, timeout: float = 60, env: WorkflowEnvironment | None = None) -> SessionDetail:
    """Wait for the session to pause; with `env`, skip 20 s of virtual time at each look (never unlock time skipping
    while a session may be paused: with no timer left, the test server would skip to its execution timeout)."""
    async def probe() -> SessionDetail | None:
        d = await detail(st, sid)
        assert d.state != SessionState.MAINTENANCE_FAILED, d.reason
        if not d.steering.paused and env is not None:
            await env.sleep(20)
        return d if d.steering.paused else None
    try:
        d: SessionDetail = await poll(probe, f"session {sid} to pause", timeout=timeout, every=0.2)
    except AssertionError:
        last = await detail(st, sid)
        raise AssertionError(f"{last.current} {last.steering}\n" + "\n".join(
            f"{h.at} {h.kind} {h.host}: {h.detail}" for h in last.history[-25:])) from None
    return d


async def steer(st: Stack, sid: str, verb: str, status: int = 200, **body: Any) -> dict[str, Any]:
    r = await st.admin.post(f"/maintenance/{sid}/{verb}", json=body or None)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def assert_replays(st: Stack, sid: str) -> None:
    """The steered session's history (Updates, pauses, parks, a moved window) replays on the workflow code."""
    history = await st.client.get_workflow_handle(session_workflow_id(sid)).fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)


def started_hosts(d: SessionDetail) -> set[str]:
    return {h.name for h in d.hosts if h.phase != HostPhase.PENDING}


async def test_canary_pauses_and_holds_until_resumed(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        sid = await st.start(hosts=HOSTS, pause_after=1)
        d = await paused(st, sid)
        assert d.steering.paused_by == "session" and "pause_after 1" in (d.steering.pause_reason or "")
        assert sum(h.maintained for h in d.hosts) == 1
        held = started_hosts(d)
        # An hour of (skipped) time later nothing new has started: no host disabled, no instance moved.
        moves = len(st.cloud.migration_log())
        await ts_env.sleep(3600)
        later = await detail(st, sid)
        assert later.steering.paused and started_hosts(later) == held
        assert len(st.cloud.migration_log()) == moves
        assert all(h.enabled for h in st.cloud.snapshot().hosts)
        # The API, the Web UI's details and the status all say so.
        status = (await st.admin.get(f"/maintenance/{sid}")).json()
        assert status["paused"] and status["paused_by"] == "session"
        meta = await st.client.get_workflow_handle(session_workflow_id(sid)).query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "**PAUSED** by session" in meta.current_details, meta.current_details
        await steer(st, sid, "pause", 409)  # already paused
        async with st.as_project("vnf-web") as web:  # steering is the admin's
            for verb in ("pause", "resume", "retry", "skip"):
                r = await web.post(f"/maintenance/{sid}/{verb}")
                assert r.status_code == 403 and "admin" in r.text, r.text
            r = await web.put(f"/maintenance/{sid}", json={"maintenance_at": "2030-01-01 00:00:00"})
            assert r.status_code == 403, r.text
        assert (await detail(st, sid)).steering.paused
        await steer(st, sid, "retry", 409)  # nothing to retry
        res = await steer(st, sid, "resume", reason="canary looks good")
        assert res["steering"]["paused"] is False and res["steering"]["resumed_by"] == "stack-admin"
        await steer(st, sid, "resume", 409)  # not paused
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        steps = [h.detail for h in done.history if h.kind == "steer"]
        assert steps == ["paused by session: " + (d.steering.pause_reason or ""), "resumed by stack-admin"]


async def test_pause_extends_reply_deadlines(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    projects = vnfms()
    projects[1].behaviour = "silent"  # vnf-web never answers: it gets the default at its deadline
    async with stack(ts_env, tmp_path, roomy_seed(), projects, skip_time=True) as st:
        sid = await st.start(hosts=HOSTS, reply_windows={"maintenance": 300})

        async def asked() -> bool:
            p = (await detail(st, sid)).project("vnf-web") if (await detail(st, sid)).projects else None
            return p is not None and p.awaiting and p.subscribed is True
        await poll(asked, "vnf-web to be asked MAINTENANCE", timeout=60)
        await steer(st, sid, "pause", reason="checking the storage backend")
        d = await detail(st, sid)
        assert d.steering.paused_by == "stack-admin" and d.steering.pause_reason == "checking the storage backend"
        await ts_env.sleep(1000)  # far beyond the 300 s window
        d = await detail(st, sid)
        web = d.project("vnf-web")
        assert web.awaiting, "defaulted while the session was paused"
        assert not any(h.kind == "default" for h in d.history)
        assert not started_hosts(d)
        await steer(st, sid, "resume")
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        await assert_replays(st, sid)
        notice = next(h for h in done.history if h.kind == "notice" and h.project_id == "vnf-web")
        pause, resume = [h.at for h in done.history if h.kind == "steer"]
        default = next(h for h in done.history if h.kind == "default" and h.project_id == "vnf-web")
        # The whole window, unpaused: 300 s plus the time the session was paused.
        assert (default.at - notice.at).total_seconds() >= 300 + (resume - pause).total_seconds() - 1
        assert done.steering.paused_total_s >= 1000


def spare_seed() -> SimSeed:
    """roomy_seed and an empty fourth host: skipping that one leaves the others the room they need."""
    seed = roomy_seed()
    seed.hosts.append(SimHostSpec(name="c3", vcpus=4, memory_mb=8192))
    return seed


def flaky_host(tmp: Path) -> dict[str, object]:
    """A host plug-in that always fails on c3, and fails on c1 the first time only."""
    script = tmp / "flaky.py"
    script.write_text(f"""
import pathlib, sys
host, marker = sys.argv[1], pathlib.Path({str(tmp / 'c1-failed-once')!r})
if host == "c3":
    print("firmware flash failed on c3"); sys.exit(4)
if host == "c1" and not marker.exists():
    marker.touch(); print("c1 timed out"); sys.exit(4)
print(f"upgraded {{host}}")
""")
    return {"plugin": "command", "type": "host",
            "metadata": {"command": [sys.executable, str(script), "{host}"], "timeout_s": 60}}


async def test_on_failure_pause_then_retry_and_skip(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, spare_seed(), vnfms(), skip_time=True) as st:
        sid = await st.start(hosts=FOUR, on_failure="pause", actions=[flaky_host(tmp_path)])
        chosen = []
        for _ in range(2):
            d = await paused(st, sid)
            parked = d.steering.parked
            assert parked is not None and parked.host in ("c1", "c3"), d.steering
            assert d.state != SessionState.MAINTENANCE_FAILED
            await steer(st, sid, "resume", 409)  # a parked session needs a choice
            verb = "retry" if parked.host == "c1" else "skip"
            await steer(st, sid, verb, reason=f"{verb} {parked.host}")
            chosen.append((parked.host, verb))
        assert sorted(chosen) == [("c1", "retry"), ("c3", "skip")]
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        by_name = {h.name: h for h in done.hosts}
        assert by_name["c1"].maintained and by_name["c0"].maintained
        assert by_name["c2"].maintained and by_name["c3"].skipped and not by_name["c3"].maintained
        assert done.steering.skipped_hosts == ["c3"]
        cloud = {h.name: h for h in st.cloud.snapshot().hosts}
        assert not cloud["c3"].enabled and all(cloud[h].enabled for h in HOSTS)
        assert sid in (cloud["c3"].disabled_reason or "")  # still held under the session's name
        await assert_replays(st, sid)


async def test_vnf_pause_after_every_batch_and_park(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, spare_seed(), constrained(lead_time=10, recovery_time=5),
                     skip_time=True) as st:
        sid = await st.start(hosts=FOUR, workflow="vnf", pause_after="batch", on_failure="pause",
                             actions=[flaky_host(tmp_path)])
        pauses = 0

        async def stopped() -> SessionDetail | None:
            d = await detail(st, sid)
            if d.steering.paused or d.state.terminal:
                return d
            await ts_env.sleep(20)
            return None
        while (d := await poll(stopped, "a pause or the end", timeout=60, every=0.2)).steering.paused:
            pauses += 1
            held = started_hosts(d)
            await ts_env.sleep(600)
            assert started_hosts(await detail(st, sid)) == held, "a host started while paused"
            if d.steering.parked is not None:
                await steer(st, sid, "retry" if d.steering.parked.host == "c1" else "skip")
            else:
                await steer(st, sid, "resume")
            assert pauses <= 8, "too many pauses"
        # Two pauses by pause_after (after the first and the second maintained host), and the two failures.
        assert pauses >= 3, pauses
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        assert done.steering.skipped_hosts == ["c3"] and not {h.name: h for h in done.hosts}["c3"].maintained
        await assert_replays(st, sid)


async def test_reschedule_renotifies_and_is_refused_once_started(ts_env: WorkflowEnvironment,
                                                                  tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(), skip_time=True) as st:
        now = await ts_env.get_current_time()
        sid = await st.start(hosts=HOSTS, maintenance_at=fenix_time(now + timedelta(hours=2)), pause_after=1)

        async def waiting() -> bool:
            return "waiting for the maintenance window" in (await detail(st, sid)).current
        await poll(waiting, "the session to wait for its window", timeout=60)
        # Bad bodies: 422 with the reason, nothing changed.
        r = await st.admin.put(f"/maintenance/{sid}", json={})
        assert r.status_code == 422 and "maintenance_at" in r.text, r.text
        r = await st.admin.put(f"/maintenance/{sid}", json={"maintenance_at": "soon"})
        assert r.status_code == 422, r.text
        r = await st.admin.put(f"/maintenance/{sid}", json={"maintenance_at": fenix_time(now), "state": "X"})
        assert r.status_code == 422 and "state" in r.text, r.text
        # Moved twice (later, then earlier): each time every project hears the new time.
        for times, new_at in enumerate((now + timedelta(hours=3), now + timedelta(hours=1)), start=1):
            r = await st.admin.put(f"/maintenance/{sid}", json={"maintenance_at": fenix_time(new_at),
                                                                "reply_windows": {"maintenance": 120}})
            assert r.status_code == 200, r.text
            projects = sorted(p.project_id for p in (await detail(st, sid)).projects)
            assert sorted(r.json()["projects_notified"]) == projects

            def renotified() -> bool:
                again = [e.project_id for e in st.vnfm.state.events
                         if e.state == "MAINTENANCE" and e.metadata.get("rescheduled")]
                return sorted(again) == sorted(projects * times)  # noqa: B023 (polled within the iteration)
            await poll(renotified, f"MAINTENANCE again with the new time ({times})", timeout=60)
            await poll(waiting, "the session to wait for its new window", timeout=60)
        d = await detail(st, sid)
        assert d.maintenance_at == new_at.replace(microsecond=0) and d.steering.rescheduled_by == "stack-admin"
        # Work starts at the new time (not the old one); the canary pause then holds it for the 409 below.
        await ts_env.sleep(3700)
        d = await paused(st, sid)
        disabled = min(h.at for h in d.history if h.kind == "host" and "disabled" in h.detail)
        assert new_at.replace(microsecond=0) <= disabled < now + timedelta(hours=2)
        r = await st.admin.put(f"/maintenance/{sid}", json={"maintenance_at": fenix_time(now + timedelta(hours=3))})
        assert r.status_code == 409 and "already started" in r.text, r.text
        await steer(st, sid, "resume")
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        await assert_replays(st, sid)


async def test_vnf_pause_extends_lead_times(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    silent = [VnfmProject(project_id=p, token="", behaviour="silent", server_prefix=p) for p in PROJECTS]
    async with stack(ts_env, tmp_path, roomy_seed(), silent, skip_time=True) as st:
        names = [s.name for s in st.cloud.snapshot().servers]
        for name in names:
            server = next(s for s in st.cloud.snapshot().servers if s.name == name)
            async with st.as_project(server.project_id) as http:
                r = await http.put(f"/instance/{server.id}", json={"lead_time": 600, "migration_type": "MIGRATE"})
                assert r.status_code == 200, r.text
        sid = await st.start(hosts=HOSTS, workflow="vnf", max_parallel_hosts=1, reply_windows={"maintenance": 1})

        async def warned() -> dict[str, datetime]:
            d = await detail(st, sid)
            return {i.instance_id: i.notified_at for i in d.instances
                    if i.actions_at is not None and i.notified_at is not None}
        first = await poll(warned, "an instance warned", timeout=60)
        await steer(st, sid, "pause")
        await ts_env.sleep(2000)  # far beyond the 600 s lead time
        d = await detail(st, sid)
        assert not any(i.action_started_at for i in d.instances), "an instance moved while paused"
        lead_ends = {i.instance_id: i.actions_at for i in d.instances if i.instance_id in first}
        res = await steer(st, sid, "resume")
        # The lead times that ran out while paused now end the pause's length later (the detail shows it).
        d = await detail(st, sid)
        paused_s = res["steering"]["paused_total_s"]
        checked = 0
        for i in (i for i in d.instances if i.instance_id in lead_ends and not i.action_started_at):
            before = lead_ends[i.instance_id]
            assert i.actions_at and before
            assert (i.actions_at - before).total_seconds() >= paused_s - 1, i
            checked += 1
        assert checked, "every warned instance moved at once after the resume"
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        pause, resume = [h.at for h in done.history if h.kind == "steer"]
        # Warned before the pause: moved no earlier than the lead time plus the pause after that first warning.
        for i in (i for i in done.instances if i.instance_id in first):
            assert i.action_started_at
            waited = (i.action_started_at - first[i.instance_id]).total_seconds()
            assert waited >= 600 + (resume - pause).total_seconds() - 1, (i.instance_id, waited)


async def test_failing_health_gate_pauses_between_batches(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    alarm = tmp_path / "nova-service-down"
    alarm.write_text("nova-compute on c9 is down\n")
    check = ("import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
             "print(p.read_text() if p.exists() else 'no alarm'); sys.exit(3 if p.exists() else 0)")
    gate = {"plugin": "command", "type": "gate",
            "metadata": {"command": [sys.executable, "-c", check, str(alarm)], "timeout_s": 60}}
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms(), skip_time=True) as st:
        sid = await st.start(hosts=HOSTS, actions=[gate])
        d = await paused(st, sid)
        # The first host went (no gate before the first batch); the gate held the second.
        assert sum(h.maintained for h in d.hosts) == 1
        assert d.steering.paused_by == "session" and "health gate 'command' failed" in (d.steering.pause_reason or "")
        assert "nova-compute on c9 is down" in (d.steering.pause_reason or "")
        held = started_hosts(d)
        await ts_env.sleep(3600)
        assert started_hosts(await detail(st, sid)) == held
        # Resumed while the alarm still rings: the gate runs again and holds again.
        await steer(st, sid, "resume")
        d = await paused(st, sid)
        assert started_hosts(d) == held
        alarm.unlink()
        await steer(st, sid, "resume", reason="alarm cleared")
        done = await st.result(sid)
        assert done.state == SessionState.MAINTENANCE_DONE, done.reason
        runs = [r.state for r in done.plugin_runs if r.type == "gate"]
        assert runs[:2] == ["FAILED", "FAILED"] and runs[2:] and set(runs[2:]) == {"DONE"}, runs
        await assert_replays(st, sid)
