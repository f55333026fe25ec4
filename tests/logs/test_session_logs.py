"""A whole session's JSON logs (API, workflows, activities, sample VNFMs; everything at DEBUG): each line is JSON, the
session's lines name it with the Temporal ids, host and project where known, and no secret the session used
appears anywhere: not the admin token, not a project's token, not a webhook signing secret or the key they come
from."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from demo.stack import stack
from demo.vnfm import VnfmProject
from fenix.constants import session_workflow_id
from fenix.models.session import SessionState
from tests.api.helpers import two_host_seed
from tests.logs.conftest import Configure


def secrets_used(admin_token: str, project_tokens: dict[str, str], signing: dict[str, list[str]],
                 key_file: Path) -> list[str]:
    found = [admin_token, *project_tokens.values(), key_file.read_text().strip()]
    for secret in (s for secrets in signing.values() for s in secrets):
        raw = secret.removeprefix("whsec_")
        found += [secret, raw, base64.b64decode(raw).hex()]  # as sent, its key material, and that as hex
    assert all(len(s) >= 16 for s in found), "a short secret would match by chance"
    return found


async def test_a_sessions_json_logs_name_it_and_hold_no_secret(ts_env: WorkflowEnvironment, tmp_path: Path,
                                                               log_stream: Configure) -> None:
    stream = log_stream("json", "DEBUG")
    projects = [VnfmProject(project_id=p, token="", server_prefix=p) for p in ("alpha", "beta")]
    async with stack(ts_env, tmp_path, two_host_seed(), projects, task_queue=f"logs-{uuid.uuid4()}") as st:
        async with st.as_project("alpha") as alpha:  # a rotated secret is a secret too
            sub_id = (await alpha.get("/subscriptions")).json()["subscriptions"][0]["id"]
            rotated = await alpha.post(f"/subscriptions/{sub_id}/secret")
            assert rotated.status_code == 200, rotated.text
            st.vnfm.trust("alpha", rotated.json()["secret"])
        sid = await st.start(hosts=["c0", "c1"])
        detail = await st.result(sid)
        assert detail.state == SessionState.MAINTENANCE_DONE, detail.reason
        secrets = secrets_used(st.admin_token, st.project_tokens, st.vnfm.secrets, st.settings.webhook_key_path)

    text = stream.getvalue()
    leaked = [f"{s[:4]}... ({len(s)} chars)" for s in secrets if s in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    mine = [line for line in lines if line.get("session_id") == sid]

    def some(**match: Any) -> dict[str, Any]:
        found = next((line for line in mine if all(line.get(k) == v or (v is ... and k in line)
                                                   for k, v in match.items())), None)
        assert found is not None, f"no line of session {sid} with {match}"
        return found

    # The API: the request that started it (and its access line, with the request's context bound).
    some(logger="fenix.api", workflow_id=session_workflow_id(sid))
    # The session workflow: its history as it happens, with the workflow's ids (logged once: not on replay).
    state = some(logger="temporalio.workflow", entry_kind="state", workflow_type="MaintenanceSession", run_id=...)
    assert state["workflow_id"] == session_workflow_id(sid)
    assert some(entry_kind="reply", project_id="alpha")["message"].startswith("reply:")
    # Activities: through activity.logger (a webhook to a project) and through other loggers (httpx's POST of
    # that webhook), both with the activity's ids bound.
    some(logger="temporalio.activity", activity_type="deliver_notification", project_id=..., run_id=...)
    some(logger="httpx", activity_type="deliver_notification")
    # What happens to a host names it.
    some(entry_kind="host", host="c0")
    # A project's reply through the API names the project it is about and who sent it.
    some(logger="fenix.api", project_id="alpha", caller_project="alpha")
