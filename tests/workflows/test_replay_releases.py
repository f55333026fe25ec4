"""Sessions of earlier releases finish on this one: their recorded histories replay on today's workflow code.

Histories are recorded with tests/histories/record.py from a checkout of each release (tests/histories/<release>/
<scenario>/<workflow>.json). A workflow change that would break an in-flight session of an earlier release fails
here: route it through `workflow.patched` (workflows/patches.py, docs/upgrading.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from fenix.tracing import temporal_interceptors
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORDED = sorted(HISTORIES.glob("*/*/*.json"))


def test_every_release_has_recorded_histories() -> None:
    releases = {p.parts[-3] for p in RECORDED}
    assert releases, f"no recorded histories under {HISTORIES}"
    for scenario in ("default-happy", "default-scale-in", "vnf-parallel", "abort-mid-move", "worker-killed-mid-move"):
        assert any(p.parts[-2] == scenario for p in RECORDED), scenario


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: "/".join(p.parts[-3:]))
async def test_recorded_history_replays(path: Path) -> None:
    """Replayed by a worker with tracing on (FENIX_OTLP_ENDPOINT): the tracing interceptor must add no command.
    Without it, a worker runs the same workflow code with fewer interceptors (tests/api/test_tracing.py replays
    traced histories both ways)."""
    history = WorkflowHistory.from_json(f"{path.parts[-2]}/{path.stem}", path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                        interceptors=temporal_interceptors(TracerProvider()))
    await replayer.replay_workflow(history)
