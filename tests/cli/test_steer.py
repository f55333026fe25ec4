"""`fenix session pause | resume | reschedule` and `start --pause-after` against a real API (a subprocess CLI)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.cli.helpers import fenix, poll_cli
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_pause_resume_and_reschedule_from_the_command_line(ts_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        token, url = st.admin_token, ("--url", st.api_url)
        # Waiting for a far window: it may be moved, and paused by hand.
        started = await fenix("session", "start", "-H", "c0,c1,c2", "--at", "2099-01-01 00:00:00",
                              "--pause-after", "1", *url, token=token)
        assert started.code == 0, started
        sid = started.stdout.strip()
        await poll_cli(lambda r: "waiting for the maintenance window" in r.stdout, "session", "show", sid, *url,
                       token=token)
        moved = await fenix("session", "reschedule", sid, "--at", "2098-06-01 00:00:00", *url, token=token)
        assert moved.code == 0 and "rescheduled to 2098-06-01 00:00:00 UTC; 3 project(s) told" in moved.stdout, moved
        paused = await fenix("session", "pause", sid, "--reason", "change freeze", *url, token=token)
        assert paused.code == 0 and "paused by stack-admin: change freeze" in paused.stdout, paused
        shown = await fenix("session", "show", sid, *url, token=token)
        assert "by stack-admin since" in shown.stdout and "change freeze" in shown.stdout, shown
        twice = await fenix("session", "pause", sid, *url, token=token)
        assert twice.code == 1 and "already paused" in twice.stderr, twice
        resumed = await fenix("session", "resume", sid, *url, token=token)
        assert resumed.code == 0 and f"session {sid}: resumed" in resumed.stdout, resumed
        nothing = await fenix("session", "skip", sid, *url, token=token)
        assert nothing.code == 1 and "not parked on a failure" in nothing.stderr, nothing
        bad = await fenix("session", "reschedule", sid, "--at", "someday", *url, token=token)
        assert bad.code == 1 and "maintenance_at" in bad.stderr, bad
        assert (await st.admin.delete(f"/maintenance/{sid}")).status_code == 200
        assert (await st.result(sid, timeout=30)).aborted
