"""Deterministic Temporal workflows: no I/O here, only decisions. Activities do the I/O."""
