"""Thin FastAPI front end: authenticates, validates, and maps HTTP to Temporal."""
