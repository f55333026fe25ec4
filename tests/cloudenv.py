"""Which real OpenStack the integration tests use, and what happens when there is none.

`OS_CLIENT_CONFIG_FILE` / `OS_CLOUD` (any cloud whose user has the admin role), else the devcloud's
clouds.yaml (`make devcloud-up` writes /tmp/fenix-devcloud/clouds.yaml). Without a cloud the tests skip;
`make test-openstack` sets FENIX_REQUIRE_OPENSTACK=1, which turns that skip into a failure so that CI can
never pass without really running them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

DEVCLOUD_CONFIG = Path(os.environ.get("FENIX_DEVCLOUD_DIR", "/tmp/fenix-devcloud")) / "clouds.yaml"
REQUIRED = os.environ.get("FENIX_REQUIRE_OPENSTACK") == "1"
HINT = "run `make devcloud-up`, or point OS_CLIENT_CONFIG_FILE / OS_CLOUD at a cloud admin's credentials"


def config_file() -> Path | None:
    given = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if given:
        return Path(given)
    return DEVCLOUD_CONFIG if DEVCLOUD_CONFIG.is_file() else None


def no_cloud(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"FENIX_REQUIRE_OPENSTACK is set but {reason}", pytrace=False)
    pytest.skip(f"{reason}; {HINT}")
