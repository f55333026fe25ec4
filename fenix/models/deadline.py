"""The deadline the API stamps on every write it hands to a workflow (an Update, or the reply signal's body)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel
from pydantic.json_schema import SkipJsonSchema


class Deadlined(BaseModel):
    """A write the API waits for only so long.

    With no worker polling, Temporal keeps an Update waiting and delivers it when a worker comes back, long after
    the API has answered 503. So the workflow refuses the write once `not_after` has passed (by the Temporal
    server's clock, `workflow.now()`): what the client was told failed is never applied behind its back.
    None means no deadline: callers that talk to Temporal directly, and histories written before the field existed.
    Set by the API only (a value in an HTTP body is overwritten); hidden from the OpenAPI schema.
    """

    not_after: SkipJsonSchema[AwareDatetime | None] = None
