"""Build the configured cloud driver."""

from __future__ import annotations

from fenix.cloud.driver import CloudDriver
from fenix.settings import Settings


def make_driver(settings: Settings) -> CloudDriver:
    if settings.cloud_driver == "simulated":
        from fenix.cloud.clock import temporal_clock
        from fenix.cloud.simulated import SimulatedCloud

        settings.sim_db_path.parent.mkdir(parents=True, exist_ok=True)
        return SimulatedCloud(settings.sim_db_path, time_scale=settings.sim_time_scale, clock=temporal_clock)
    if settings.cloud_driver == "openstack":
        from fenix.cloud.openstack import OpenStackCloud

        return OpenStackCloud(cloud=settings.os_cloud, config_file=settings.os_client_config_file,
                              region_name=settings.os_region_name, timeout_s=settings.os_timeout_s,
                              boot_image=settings.os_boot_image, boot_networks=settings.os_boot_networks,
                              boot_timeout_s=settings.os_boot_timeout_s, cache_ttl_s=settings.os_cache_ttl_s)
    raise ValueError(f"unknown cloud driver {settings.cloud_driver!r}")
