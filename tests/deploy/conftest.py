"""The compose file, read once for the tests in tests/deploy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.compose import load_compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found
