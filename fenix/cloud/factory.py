"""Build the configured cloud driver."""

from __future__ import annotations

from fenix.cloud.driver import CloudDriver
from fenix.settings import Settings


def make_driver(settings: Settings) -> CloudDriver:
    if settings.cloud_driver == "simulated":
        from fenix.cloud.simulated import SimulatedCloud

        settings.sim_db_path.parent.mkdir(parents=True, exist_ok=True)
        return SimulatedCloud(settings.sim_db_path, time_scale=settings.sim_time_scale)
    raise ValueError(f"unknown cloud driver {settings.cloud_driver!r}")
