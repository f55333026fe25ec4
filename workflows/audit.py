"""The session's audit record: admin and project actions, with who did them, in the session's history (kind
`audit`; a reply's actor is on its own `reply` entry). Bounded, because the history travels in every `detail` query
answer and in the workflow's result: past MAX_AUDIT_ENTRIES only a count is kept, the API's structured log
(`fenix.audit`, api/audit.py) has every action."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.audit import ActionRecord
    from fenix.tokens import ADMIN_ROLE
    from workflows.context import SessionContext

MAX_AUDIT_ENTRIES = 200
MAX_DETAIL_CHARS = 500


def audit_entry(ctx: SessionContext, record: ActionRecord) -> None:
    kept = sum(1 for entry in ctx.detail.history if entry.kind == "audit")
    if kept > MAX_AUDIT_ENTRIES:
        return
    if kept == MAX_AUDIT_ENTRIES:
        ctx.log("audit", f"more than {MAX_AUDIT_ENTRIES} actions: the rest is only in the API's audit log")
        return
    detail = record.action + (f": {record.detail[:MAX_DETAIL_CHARS]}" if record.detail else "")
    ctx.log("audit", detail, project_id=record.actor.project_id if not _admin(record) else None,
            actor=record.actor)


def _admin(record: ActionRecord) -> bool:
    return ADMIN_ROLE in record.actor.roles
