"""Instance and instance-group constraints over real HTTP on a real (time-skipping) Temporal server: CRUD,
validation, project isolation, idempotent DELETE, and durability (restarts, continue-as-new).

Every instance named here exists in the simulated cloud, owned by the project that writes its constraints: the
registry stores an instance's constraints only for its owner (tests/api/test_tenant_isolation.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from demo.stack import Stack, stack
from fenix.cloud.simulated import SimHostSpec, SimSeed
from fenix.models.constraints import ProjectConstraintsState
from tests.api.helpers import assert_error, silent
from tests.waiting import poll
from workflows.project_constraints import ProjectConstraintsWorkflow, project_constraints_id

GROUP = {"group_name": "ha", "anti_affinity_group": True, "max_instances_per_host": 1, "max_impacted_members": 1,
         "recovery_time": 4, "resource_mitigation": True}
INSTANCE = {"instance_name": "ha-0", "max_interruption_time": 120, "migration_type": "LIVE_MIGRATE",
            "resource_mitigation": True, "lead_time": 40}


SERVERS = {"alpha": ["i1", "i2", "i3", "ia", "ia0", "ia1", "ia2", "ia3"], "beta": ["ib", "ib0", "ib1", "ib2", "ib3"]}


@asynccontextmanager
async def constraints_stack(env: WorkflowEnvironment, tmp: Path, **kw: Any) -> AsyncIterator[Stack]:
    """Projects alpha and beta with tokens and the servers of SERVERS; no subscriptions (nothing here notifies)."""
    seed = SimSeed(hosts=[SimHostSpec(name="c0", vcpus=64, memory_mb=65536)])
    async with stack(env, tmp, seed, silent("alpha", "beta"), subscribe=[], **kw) as st:
        for project, ids in SERVERS.items():
            for sid in ids:
                if not any(s.id == sid for s in st.cloud.list_servers()):
                    st.cloud.create_server(project_id=project, name=sid, vcpus=1, memory_mb=64, server_id=sid)
        yield st


async def admin_lists(st: Stack, want: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The admin's lists of every project's items (visibility finds a new project's registry within a second)."""

    async def lists() -> tuple[dict[str, Any], dict[str, Any]] | None:
        instances: dict[str, Any] = (await st.admin.get("/instance")).json()
        groups: dict[str, Any] = (await st.admin.get("/instance_group")).json()
        complete = {i["project_id"] for i in instances["instances"]} >= {"alpha", "beta"}
        return (instances, groups) if complete and (want is None or len(instances["instances"]) == want) else None

    found: tuple[dict[str, Any], dict[str, Any]] = await poll(lists, "every project's constraints listed", 10)
    return found


async def test_crud_of_groups_and_instances(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with constraints_stack(ts_env, tmp_path) as st, st.as_project("alpha") as alpha:
        r = await alpha.put("/instance_group/g1", json={"group_id": "g1", "project_id": "alpha", **GROUP})
        assert r.status_code == 200, r.text
        assert r.json() == {"group_id": "g1", "project_id": "alpha", **GROUP}
        # Only the URL's id: everything else defaults (the project is the caller's).
        r = await alpha.put("/instance_group/g2", json={})
        assert r.status_code == 200, r.text
        assert r.json() == {"group_id": "g2", "project_id": "alpha", "group_name": None,
                            "anti_affinity_group": False, "max_instances_per_host": 0, "max_impacted_members": 1,
                            "recovery_time": 60, "resource_mitigation": True}
        r = await alpha.get("/instance_group/g1")
        assert r.status_code == 200, r.text
        assert r.json()["recovery_time"] == 4

        r = await alpha.put("/instance/i1", json={"instance_id": "i1", "group_id": "g1", **INSTANCE})
        assert r.status_code == 200, r.text
        assert r.json() == {"instance_id": "i1", "project_id": "alpha", "group_id": "g1", **INSTANCE}
        r = await alpha.put("/instance/i2", json={"group_id": "g2", "migration_type": "EVICTION",
                                                  "unknown_extra": "ignored"})
        assert r.status_code == 200, r.text
        assert r.json() == {"instance_id": "i2", "project_id": "alpha", "group_id": "g2", "instance_name": None,
                            "max_interruption_time": 120, "migration_type": "EVICTION",
                            "resource_mitigation": True, "lead_time": 120}
        r = await alpha.put("/instance/i3", json={"migration_type": "OWN_ACTION", "lead_time": 0})
        assert r.status_code == 200, r.text
        assert r.json()["group_id"] is None
        # The latest PUT wins.
        r = await alpha.put("/instance/i1", json={**INSTANCE, "group_id": "g1", "lead_time": 10})
        assert r.status_code == 200, r.text
        assert (await alpha.get("/instance/i1")).json()["lead_time"] == 10

        r = await alpha.get("/instance")
        assert [i["instance_id"] for i in r.json()["instances"]] == ["i1", "i2", "i3"]
        r = await alpha.get("/instance", params={"group_id": "g1"})
        assert [i["instance_id"] for i in r.json()["instances"]] == ["i1"]
        r = await alpha.get("/instance_group")
        assert [g["group_id"] for g in r.json()["groups"]] == ["g1", "g2"]

        # DELETE is idempotent: 204 whether or not there is something to delete.
        for _ in range(2):
            assert (await alpha.delete("/instance/i1")).status_code == 204
            assert (await alpha.delete("/instance_group/g2")).status_code == 204
        assert (await alpha.delete("/instance/never-was")).status_code == 204
        assert (await alpha.delete("/instance_group/never-was")).status_code == 204
        assert_error(await alpha.get("/instance/i1"), 404, "i1")
        assert_error(await alpha.get("/instance_group/g2"), 404, "g2")
        assert [i["instance_id"] for i in (await alpha.get("/instance")).json()["instances"]] == ["i2", "i3"]
        assert [g["group_id"] for g in (await alpha.get("/instance_group")).json()["groups"]] == ["g1"]
        # A member of a deleted group keeps its group_id; writing it again needs the group back.
        assert_error(await alpha.put("/instance/i2", json={"group_id": "g2"}), 422, "group_id", "g2")
        assert (await alpha.put("/instance/i2", json={})).status_code == 200


async def test_validation_errors(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with constraints_stack(ts_env, tmp_path) as st, st.as_project("alpha") as alpha, \
            st.as_project("beta") as beta:
        assert (await beta.put("/instance_group/gb", json={})).status_code == 200
        bad_groups: list[tuple[dict[str, Any], str]] = [
            ({"max_impacted_members": 0}, "max_impacted_members"),
            ({"max_instances_per_host": -1}, "max_instances_per_host"),
            ({"recovery_time": -5}, "recovery_time"),
            ({"recovery_time": "60"}, "recovery_time"),
            ({"anti_affinity_group": "yes"}, "anti_affinity_group"),
            ({"max_impacted_members": 1.5}, "max_impacted_members"),
            ({"group_name": "x" * 256}, "group_name"),
            ({"project_id": ""}, "project_id"),
        ]
        for body, field in bad_groups:
            assert_error(await alpha.put("/instance_group/g1", json=body), 422, field)
        bad_instances: list[tuple[dict[str, Any], str]] = [
            ({"migration_type": "MIGRATION"}, "migration_type"),
            ({"max_interruption_time": -1}, "max_interruption_time"),
            ({"lead_time": -1}, "lead_time"),
            ({"lead_time": None}, "lead_time"),
            ({"resource_mitigation": "maybe"}, "resource_mitigation"),
            ({"group_id": "nope"}, "group_id"),
            ({"group_id": "gb"}, "group_id"),  # beta's group: not one of alpha's (and not told it exists)
        ]
        for body, field in bad_instances:
            assert_error(await alpha.put("/instance/i1", json=body), 422, field)
        assert_error(await alpha.put("/instance/i1", json={"group_id": "nope"}), 422, "PUT /v1/instance_group/nope")
        # The id in the URL and in the body must agree.
        assert_error(await alpha.put("/instance/i1", json={"instance_id": "i2"}), 422, "instance_id", "i2", "i1")
        assert_error(await alpha.put("/instance_group/g1", json={"group_id": "g2"}), 422, "group_id", "g2", "g1")
        assert_error(await alpha.put(f"/instance/{'x' * 256}", json={}), 422, "instance_id")
        assert_error(await alpha.put("/instance/i1", content=b"not json",
                                     headers={"Content-Type": "application/json"}), 422)
        assert_error(await alpha.put("/instance/i1", json=[1, 2]), 422)
        # Nothing was stored by any of those.
        assert (await alpha.get("/instance")).json() == {"instances": []}
        assert (await alpha.get("/instance_group")).json() == {"groups": []}


async def test_projects_see_and_change_only_their_own(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with constraints_stack(dev_env, tmp_path) as st, st.as_project("alpha") as alpha, \
            st.as_project("beta") as beta:
        assert (await alpha.put("/instance_group/ga", json=GROUP)).status_code == 200
        assert (await alpha.put("/instance/ia", json={**INSTANCE, "group_id": "ga"})).status_code == 200
        assert (await beta.put("/instance_group/gb", json={})).status_code == 200
        assert (await beta.put("/instance/ib", json={"group_id": "gb"})).status_code == 200

        # Another project's items are absent to beta: 404 (never 403, so ids do not leak) ...
        assert_error(await beta.get("/instance/ia"), 404, "ia")
        assert_error(await beta.get("/instance_group/ga"), 404, "ga")
        assert_error(await beta.put("/instance/ia", json={}), 404, "ia")
        # ... and its DELETE answers 204 but removes nothing.
        assert (await beta.delete("/instance/ia")).status_code == 204
        assert (await beta.delete("/instance_group/ga")).status_code == 204
        assert (await alpha.get("/instance/ia")).json()["lead_time"] == 40
        assert (await alpha.get("/instance_group/ga")).json()["recovery_time"] == 4
        # Group ids are each project's own: beta's "ga" is another group, and alpha's stays as it was.
        assert (await beta.put("/instance_group/ga", json={"recovery_time": 9})).status_code == 200
        assert (await beta.delete("/instance_group/ga")).status_code == 204
        assert (await alpha.get("/instance_group/ga")).json()["recovery_time"] == 4

        # Writing for another project is forbidden; so is listing another project's.
        assert_error(await beta.put("/instance/x", json={"project_id": "alpha"}), 403, "project_id")
        assert_error(await beta.put("/instance_group/x", json={"project_id": "alpha"}), 403, "project_id")
        assert_error(await beta.get("/instance", params={"project_id": "alpha"}), 403)
        assert_error(await beta.get("/instance_group", params={"project_id": "alpha"}), 403)
        assert (await beta.get("/instance", params={"project_id": "beta"})).status_code == 200

        # Lists are the caller's own.
        assert [i["instance_id"] for i in (await alpha.get("/instance")).json()["instances"]] == ["ia"]
        assert [i["instance_id"] for i in (await beta.get("/instance")).json()["instances"]] == ["ib"]
        assert [g["group_id"] for g in (await beta.get("/instance_group")).json()["groups"]] == ["gb"]

        # The admin sees everything, or one project's, and may write for any project.
        instances, _ = await admin_lists(st)
        assert [i["instance_id"] for i in instances["instances"]] == ["ia", "ib"]
        r = await st.admin.get("/instance_group", params={"project_id": "beta"})
        assert [g["group_id"] for g in r.json()["groups"]] == ["gb"]
        assert (await st.admin.get("/instance/ia")).json()["project_id"] == "alpha"
        r = await st.admin.put("/instance/ia2", json={"project_id": "alpha", "group_id": "ga"})
        assert r.status_code == 200, r.text
        assert [i["instance_id"] for i in (await alpha.get("/instance")).json()["instances"]] == ["ia", "ia2"]
        # Even the admin cannot put an instance into another project's group.
        assert_error(await st.admin.put("/instance/ib2", json={"project_id": "beta", "group_id": "ga"}), 422,
                     "group_id")
        # Nor write for a project an instance that is another project's in the cloud.
        assert_error(await st.admin.put("/instance/ia1", json={"project_id": "beta"}), 404, "ia1")
        assert (await st.admin.delete("/instance/ib")).status_code == 204
        assert [i["instance_id"] for i in (await beta.get("/instance")).json()["instances"]] == []


async def test_continue_as_new_keeps_every_item(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with constraints_stack(ts_env, tmp_path) as st:
        # Started before the API's first use with a small threshold: the API reuses them (USE_EXISTING).
        firsts = {}
        for project in ("alpha", "beta"):
            wf_id = project_constraints_id(st.settings.constraints_workflow_id, project)
            firsts[wf_id] = await ts_env.client.start_workflow(
                ProjectConstraintsWorkflow.run, ProjectConstraintsState(project_id=project, continue_as_new_after=3),
                id=wf_id, task_queue=st.settings.task_queue)
        before_instances, before_groups = await fill(st, visibility=False)
        # 9 writes each with a threshold of 3: each registry continued as new several times and kept everything.
        for wf_id, first in firsts.items():
            first_run = ts_env.client.get_workflow_handle(wf_id, run_id=first.result_run_id)
            assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
            latest = await ts_env.client.get_workflow_handle(wf_id).describe()
            assert latest.run_id != first.result_run_id and latest.status == WorkflowExecutionStatus.RUNNING
        assert await per_project_lists(st) == (before_instances, before_groups)
        await still_writable(st)


async def test_constraints_survive_api_and_worker_restart(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """On the dev server: the time-skipping test server does not move a workflow from a stopped worker's sticky
    queue to a new worker (a query then hangs), as tests/api/test_subscriptions_durable.py found."""
    queue, tokens = f"tq-{uuid.uuid4()}", tmp_path / "tokens.json"
    wf_id = f"constraints-{queue}"  # what demo.stack.stack_settings gives a stack on this queue: its own registry
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    try:
        async with constraints_stack(dev_env, tmp_path / "1", task_queue=queue, tokens_file=tokens) as st:
            assert st.settings.constraints_workflow_id == wf_id
            before_instances, before_groups = await fill(st)
        # A new API process and a new worker on the same Temporal: the registries replay, nothing is lost.
        async with constraints_stack(dev_env, tmp_path / "2", task_queue=queue, tokens_file=tokens) as st:
            assert await admin_lists(st) == (before_instances, before_groups)
            await still_writable(st)
    finally:
        for project in ("alpha", "beta"):
            await dev_env.client.get_workflow_handle(project_constraints_id(wf_id, project)).terminate("test over")


async def per_project_lists(st: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """The admin's lists, one project at a time (works without visibility)."""
    instances: list[Any] = []
    groups: list[Any] = []
    for project in ("alpha", "beta"):
        instances += (await st.admin.get("/instance", params={"project_id": project})).json()["instances"]
        groups += (await st.admin.get("/instance_group", params={"project_id": project})).json()["groups"]
    return {"instances": instances}, {"groups": groups}


async def fill(st: Stack, visibility: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """18 writes by two projects (7 instances and 7 groups left); the admin's lists afterwards."""
    async with st.as_project("alpha") as alpha, st.as_project("beta") as beta:
        for n in range(4):
            assert (await alpha.put(f"/instance_group/ga{n}", json=GROUP)).status_code == 200
            assert (await beta.put(f"/instance_group/gb{n}", json={})).status_code == 200
            r = await alpha.put(f"/instance/ia{n}", json={**INSTANCE, "group_id": f"ga{n}", "lead_time": n})
            assert r.status_code == 200, r.text
            assert (await beta.put(f"/instance/ib{n}", json={"group_id": f"gb{n}"})).status_code == 200
        assert (await alpha.delete("/instance/ia3")).status_code == 204
        assert (await alpha.delete("/instance_group/ga3")).status_code == 204
    instances, groups = await admin_lists(st, want=7) if visibility else await per_project_lists(st)
    assert len(instances["instances"]) == 7 and len(groups["groups"]) == 7
    return instances, groups


async def still_writable(st: Stack) -> None:
    async with st.as_project("alpha") as alpha:
        r = await alpha.get("/instance/ia2")
        assert r.status_code == 200 and r.json()["lead_time"] == 2 and r.json()["group_id"] == "ga2"
        assert_error(await alpha.get("/instance/ia3"), 404)
        assert (await alpha.put("/instance/ia3", json={"group_id": "ga0"})).status_code == 200
        assert len((await alpha.get("/instance")).json()["instances"]) == 4
