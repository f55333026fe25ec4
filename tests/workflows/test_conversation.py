"""The reply refusals of workflows/conversation.py and the HTTP statuses the API answers them with."""

from __future__ import annotations

from api.errors import UPDATE_STATUS
from workflows.conversation import API_ERROR_TYPE, Refusal, Rejection

# What a client has always been answered for each refusal; the API maps the error type, not the refusal.
STATUS = {Refusal.LATE: 503, Refusal.UNKNOWN_PROJECT: 404, Refusal.MALFORMED: 422, Refusal.NOT_WAITING: 409,
          Refusal.AMBIGUOUS: 409, Refusal.NOT_ASKED: 422, Refusal.NOT_ALLOWED: 422}


def test_every_refusal_has_the_status_it_always_had() -> None:
    assert set(API_ERROR_TYPE) == set(Refusal) == set(STATUS)
    assert {r: UPDATE_STATUS[API_ERROR_TYPE[r]] for r in Refusal} == STATUS


def test_a_rejection_raises_the_type_the_api_maps() -> None:
    err = Rejection(Refusal.AMBIGUOUS, "ACK_PLANNED_MAINTENANCE: the reply names no instance").error()
    assert (err.type, err.message, err.non_retryable) == (
        "StaleReply", "ACK_PLANNED_MAINTENANCE: the reply names no instance", True)
