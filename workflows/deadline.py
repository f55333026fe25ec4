"""Refusing a write that reaches its workflow after the API stopped waiting for it (see fenix/models/deadline.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# The ApplicationError type of a late write; api/errors.py answers it with 503, like the API's own timeout.
# The session's reply check refuses a late reply with it too (workflows/conversation.py API_ERROR_TYPE).
DEADLINE_PASSED = "DeadlinePassed"


def refuse_if_late(not_after: datetime | None, what: str) -> None:
    """First check of an Update validator: a refused Update leaves no trace in the history, so a write the client
    was answered 503 for is dropped when a worker takes it later."""
    now = workflow.now()
    if not_after is not None and now > not_after:
        raise ApplicationError(f"{what} reached the workflow at {now:%Y-%m-%d %H:%M:%S} UTC, after its deadline "
                               f"{not_after.astimezone(UTC):%H:%M:%S} UTC: not applied (the API had stopped "
                               "waiting for it)", type=DEADLINE_PASSED, non_retryable=True)
