"""The bounded form of `make fuzz`: schemathesis over the live OpenAPI, a few examples per operation, as the admin and
as a project; every phase (examples, coverage, fuzzing, stateful links). Zero server errors, and every answer is one
the schema declares, with the declared body and headers (issue 9)."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.fuzz import CONTRACT_CHECKS, fuzz


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(dev_env: WorkflowEnvironment,
                                                                         tmp_path: Path) -> None:
    runs = await fuzz(dev_env, tmp_path, max_examples=3, seed=20261128, checks=CONTRACT_CHECKS)
    assert [r.who for r in runs] == ["admin", "project-vnf-ha"]
    for run in runs:
        assert run.code == 0, f"schemathesis as {run.who}:\n{run.output[-20000:]}"
        assert " passed" in run.output and "generated" in run.output, run.output[-3000:]
