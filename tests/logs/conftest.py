"""Logging configured for one test, into memory, and put back afterwards (pytest's own capture stays)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from temporalio import activity, workflow

from fenix import logs

Configure = Callable[..., io.StringIO]


@pytest.fixture
def log_stream() -> Iterator[Configure]:
    """`log_stream("json", "DEBUG")` configures Fenix's logging into a StringIO and returns it."""
    root = logging.getLogger()
    level = root.level

    def configure(log_format: logs.LogFormat = "json", level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        logs.configure_logging(log_format, level, stream=stream)
        return stream

    yield configure
    for handler in [h for h in root.handlers if isinstance(h, logs._FenixHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
    activity.logger.activity_info_on_message = True
    workflow.logger.workflow_info_on_message = True
    structlog.reset_defaults()
