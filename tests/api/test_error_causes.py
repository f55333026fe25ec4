"""api/errors.py's `root_cause`: the one place that takes a Temporal failure out of the SDK's wrappers, for the
Update refusals, the reply route and the plan preview alike."""

from __future__ import annotations

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState

from api.errors import root_cause
from workflows.project_constraints import CLOUD_UNAVAILABLE


def activity_failed(cause: BaseException) -> ActivityError:
    err = ActivityError("Activity task failed", scheduled_event_id=5, started_event_id=6, identity="worker",
                        activity_type="instance_owner", activity_id="1",
                        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED)
    err.__cause__ = cause
    return err


def test_a_validator_refusal_is_its_application_error() -> None:
    refusal = ApplicationError("stale reply", type="StaleReply")
    assert root_cause(WorkflowUpdateFailedError(refusal)) is refusal


def test_an_activity_failure_is_unwrapped_to_what_the_activity_raised() -> None:
    unknown_host = ApplicationError("no host c9", type="NotFound", non_retryable=True)
    assert root_cause(WorkflowFailureError(cause=activity_failed(unknown_host))) is unknown_host


def test_an_application_error_that_names_the_reason_is_not_unwrapped_further() -> None:
    # `raise ApplicationError(..., type=CLOUD_UNAVAILABLE) from err` in the constraints registry: a 503, whatever
    # the activity error under it says.
    reason = ApplicationError("could not ask the cloud who owns instance 'i1'; try again", type=CLOUD_UNAVAILABLE)
    reason.__cause__ = activity_failed(ApplicationError("connection refused", type="ConnectionError"))
    assert root_cause(WorkflowUpdateFailedError(reason)) is reason


def test_temporals_own_failures_and_other_errors_are_their_own_cause() -> None:
    cancelled = CancelledError("cancelled")
    assert root_cause(WorkflowFailureError(cause=cancelled)) is cancelled
    plain = ValueError("not from Temporal")
    plain.__cause__ = KeyError("x")
    assert root_cause(plain) is plain
