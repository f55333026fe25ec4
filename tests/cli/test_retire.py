"""`fenix session start --retire` reaches the session: the host ends retired, not maintained and enabled."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from tests.cli.helpers import fenix
from tests.workflows.test_session_flow import roomy_seed, vnfms


async def test_start_with_retire(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with stack(ts_env, tmp_path, roomy_seed(), vnfms()) as st:
        started = await fenix("session", "start", "--host", "c2", "--retire", "--url", st.api_url,
                              token=st.admin_token)
        assert started.code == 0, started
        ended = await st.result(started.stdout.strip())
        assert ended.host("c2").retired, ended.hosts
        assert not next(h for h in st.cloud.snapshot().hosts if h.name == "c2").enabled
