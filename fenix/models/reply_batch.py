"""Several projects' replies to one session in one Update (the API's group commit, api/reply_batch.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fenix.models.reply import ProjectReply, ReplyResult

# Replies in one batch. The API also keeps a batch's payload far below Temporal's 2 MB (api/reply_batch.py); this
# bound is the workflow's own, so a batch from any caller cannot make one workflow task take every reply of a cloud.
MAX_REPLIES_PER_BATCH = 500


class ProjectReplies(BaseModel):
    """The `replies` Update's argument: replies that reached one API process for one session at about one time."""

    replies: list[ProjectReply] = Field(max_length=MAX_REPLIES_PER_BATCH)


class ReplyOutcome(BaseModel):
    """What became of one reply of a batch: `result` if it was taken, else the refusal `error_type` (the
    ApplicationError type a single `reply` Update is refused with, which the API maps to HTTP) and its message."""

    result: ReplyResult | None = None
    error_type: str = ""
    message: str = ""


class ReplyOutcomes(BaseModel):
    """One outcome per reply of the batch, in the batch's order."""

    outcomes: list[ReplyOutcome]
