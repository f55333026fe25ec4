"""Failures that end a session cleanly, shared by the session's flows."""

from __future__ import annotations


class SessionFailed(Exception):  # noqa: N818 (the name the session's history and docs use)
    """A business failure that ends the session in MAINTENANCE_FAILED (NACK, capacity, a host that cannot be
    emptied). The session re-enables what it disabled and tells the projects."""
