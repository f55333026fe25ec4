"""Action plug-ins inside whole sessions: every type runs, in order, on an empty disabled host."""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from fenix.models.session import ActionType, SessionState
from tests.checks import assert_cloud_sound
from tests.workflows.test_session_flow import roomy_seed, vnfms

# Run by the `command` plug-in as a real process: it looks at the cloud itself, so "the host was disabled
# and empty while its plug-ins ran" is checked from outside the engine, not taken from its own records.
CHECK_HOST = """
import sys
from fenix.cloud.simulated import SimulatedCloud
host, db = sys.argv[1], sys.argv[2]
snap = SimulatedCloud(db).snapshot()
state = next(h for h in snap.hosts if h.name == host)
on_host = [s.name for s in snap.servers if s.host == host]
if state.enabled or on_host:
    print(f"{host} not ready: enabled={state.enabled} servers={on_host}")
    sys.exit(3)
print(f"upgraded {host}")
"""


def command(*argv: str) -> dict[str, object]:
    return {"command": [sys.executable, *argv], "timeout_s": 60}


async def test_every_plugin_type_runs_in_order(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    script = tmp_path / "check_host.py"
    script.write_text(CHECK_HOST)
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        db = str(st.cloud.path)
        sid = await st.start(hosts=["c0", "c1", "c2"], actions=[
            {"plugin": "command", "type": "pre", "metadata": command("-c", "print('pre for {session_id}')")},
            {"plugin": "command", "type": "host", "metadata": command(str(script), "{host}", db)},
            {"plugin": "dummy", "type": "compute", "metadata": {"seconds": 0.05}},
            {"plugin": "command", "type": "post", "metadata": command("-c", "print('post')")},
        ])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        assert_cloud_sound(st.cloud, before, detail)
        runs = [(r.type, r.host, r.state) for r in detail.plugin_runs]
        assert runs[0] == (ActionType.PRE, None, "DONE") and runs[-1] == (ActionType.POST, None, "DONE")
        per_host = runs[1:-1]
        assert sorted(per_host) == sorted([(t, h, "DONE") for h in ("c0", "c1", "c2")
                                           for t in (ActionType.HOST, ActionType.COMPUTE)])
        for h in ("c0", "c1", "c2"):  # host before compute on each host
            assert per_host.index((ActionType.HOST, h, "DONE")) < per_host.index((ActionType.COMPUTE, h, "DONE"))
        outputs = {(r.type, r.host): r.output for r in detail.plugin_runs}
        assert f"pre for {sid}" in outputs[(ActionType.PRE, None)]
        assert all(f"upgraded {h}" in outputs[(ActionType.HOST, h)] for h in ("c0", "c1", "c2"))


async def test_failing_plugin_fails_session_and_leaves_hosts_enabled(ts_env: WorkflowEnvironment,
                                                                     tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        before = st.cloud.snapshot()
        sid = await st.start(hosts=["c0", "c1", "c2"], actions=[
            {"plugin": "command", "type": "host",
             "metadata": command("-c", "import sys; print('firmware flash failed on {host}'); sys.exit(4)")},
        ])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_FAILED
        assert detail.reason and "command" in detail.reason, detail.reason
        failed = [r for r in detail.plugin_runs if r.state == "FAILED"]
        assert len(failed) == 1 and "firmware flash failed on" in failed[0].output
        assert_cloud_sound(st.cloud, before, detail)
        assert not any(h.maintained for h in detail.hosts if h.name == failed[0].host)
