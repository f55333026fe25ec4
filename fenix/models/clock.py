"""Input and result of the clock reading that decisions are made from."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ClockRead(BaseModel):
    seen: datetime  # workflow.now() of the task that asks


class ClockReading(BaseModel):
    at: datetime  # the time to decide from, as recorded in the history
