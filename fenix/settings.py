"""All configuration, read from FENIX_* environment variables (one pydantic-settings class)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENIX_", extra="ignore")

    data_dir: Path = Path(".fenix")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "fenix"
    # The durable subscription registry: one workflow per Fenix deployment in the namespace.
    registry_workflow_id: str = "fenix-subscriptions"

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 12347  # the port Doctor ran Fenix on
    public_url: str | None = None  # base URL projects reach the API at; default http://host:port/v1
    auth_mode: Literal["tokens", "keystone"] = "tokens"
    tokens_file: Path | None = None  # default <data_dir>/tokens.json
    admin_project_id: str = "admin"

    # Cloud
    cloud_driver: Literal["simulated", "openstack"] = "simulated"
    sim_db: Path | None = None  # default <data_dir>/simcloud.sqlite
    sim_time_scale: float = Field(1.0, ge=0)  # multiplies simulated migration durations

    # Notifications: a VNFM may scale inside the webhook request, so allow minutes.
    # At most the delivery activity's 10 min start-to-close (workflows/options.py WEBHOOK).
    webhook_timeout_s: float = Field(300, gt=0, le=600)

    # Worker
    worker_max_concurrent_activities: int = Field(50, gt=0)

    @property
    def api_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}/v1").rstrip("/")

    @property
    def tokens_path(self) -> Path:
        return self.tokens_file or self.data_dir / "tokens.json"

    @property
    def sim_db_path(self) -> Path:
        return self.sim_db or self.data_dir / "simcloud.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()
