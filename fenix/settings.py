"""All configuration, read from FENIX_* environment variables (one pydantic-settings class)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
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
    constraints_workflow_id: str = "fenix-constraints"  # the durable instance / instance-group constraints
    # How long the API and the worker keep trying to reach Temporal when they start (exponential backoff up to 10 s
    # between tries, each logged); then they exit. 0: one try. A process started before Temporal waits for it.
    temporal_connect_timeout_s: float = Field(300.0, ge=0, le=86400)
    # Securing the connection (fenix/temporal_security.py, docs/deployment.md#securing-the-connection-to-temporal).
    # TLS: unset means on as soon as a file, a server name or an API key below is given; false forces plain TCP.
    temporal_tls: bool | None = None
    temporal_tls_ca_file: Path | None = None  # PEM CA bundle the server's certificate chains to; unset: system roots
    temporal_tls_cert_file: Path | None = None  # PEM client certificate, for mutual TLS (with the key below)
    temporal_tls_key_file: Path | None = None  # its PEM private key
    temporal_tls_server_name: str | None = None  # the name in the server's certificate, if not the address's host
    # Temporal Cloud API key, sent as a bearer token on every call (so it turns TLS on). Never logged.
    temporal_api_key: SecretStr | None = None

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 12347  # the port Doctor ran Fenix on
    public_url: str | None = None  # base URL projects reach the API at; default http://host:port/v1
    auth_mode: Literal["tokens", "keystone"] = "tokens"
    tokens_file: Path | None = None  # default <data_dir>/tokens.json
    admin_project_id: str = "admin"
    # Whole-request deadlines: a write (an Update to a workflow, a start, a cancel) or a read (a query, visibility)
    # that is not done in this time answers 503. A write is stamped with the deadline and its workflow refuses it
    # afterwards, so a write answered 503 is never applied later (docs/api.md#when-fenix-cannot-answer-503). Both
    # include checking the token: keep them above keystone_timeout_s, so a slow Keystone is reported as such.
    api_write_timeout_s: float = Field(30.0, ge=1, le=600)
    api_read_timeout_s: float = Field(15.0, ge=1, le=600)

    # Keystone auth mode (FENIX_AUTH_MODE=keystone): incoming tokens are validated against Keystone, as
    # keystonemiddleware would, by Fenix's own service user. Give either a clouds.yaml cloud name (found
    # through OS_CLIENT_CONFIG_FILE or the usual clouds.yaml places) or the auth URL and password below.
    keystone_cloud: str | None = None
    keystone_auth_url: str | None = None  # e.g. http://keystone:5000/v3
    keystone_username: str = "fenix"
    keystone_password: SecretStr | None = None
    keystone_project_name: str = "service"
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_region_name: str | None = None
    # Catalog interface of the identity endpoint that validates tokens (keystonemiddleware's default);
    # public is tried when the catalog has no such endpoint.
    keystone_interface: Literal["public", "internal", "admin"] = "internal"
    keystone_cafile: Path | None = None  # CA bundle for an https auth URL (a cloud brings its own `cacert`)
    keystone_timeout_s: float = Field(10.0, gt=0)  # longest an API call waits for Keystone (503 after)
    keystone_admin_role: str = "admin"  # Keystone role that makes a caller a Fenix admin
    keystone_service_role: str = "service"  # Keystone role of infrastructure services (host status, host events)
    keystone_cache_ttl_s: float = Field(60.0, ge=0)  # how long a validation (or rejection) is reused; 0: never
    keystone_cache_size: int = Field(10000, gt=0)  # most validations kept

    # Cloud
    cloud_driver: Literal["simulated", "openstack"] = "simulated"
    sim_db: Path | None = None  # default <data_dir>/simcloud.sqlite
    sim_time_scale: float = Field(1.0, ge=0)  # multiplies simulated migration durations
    # How often activities re-read the cloud while following a migration or waiting for a host to empty. Each
    # look is a few API calls; on a real Nova with many hosts, a few seconds is plenty and kinder.
    cloud_poll_s: float = Field(2.0, ge=0.01, le=60)
    # While those looks see nothing change, the pause between them doubles up to this (back to cloud_poll_s at the
    # first change).
    cloud_poll_max_s: float = Field(15.0, ge=0.01, le=300)
    # How long one migrate_step activity may look again at a move before leaving the wait to a durable timer.
    # 0 on the time-skipping test server (a running activity holds its virtual clock at real speed).
    move_inline_s: float = Field(1.0, ge=0, le=30)
    # OpenStack (cloud_driver="openstack"), see docs/openstack.md. Credentials stay in clouds.yaml /
    # secure.yaml / OS_* variables: Fenix only names the cloud.
    os_cloud: str | None = None  # cloud name in clouds.yaml; None: OS_CLOUD, or the OS_* variables
    os_client_config_file: Path | None = None  # a clouds.yaml to use instead of the standard search path
    os_region_name: str | None = None
    os_timeout_s: float = Field(60, gt=0)  # per HTTP request
    os_boot_image: str = "cirros-fake"  # image (name or id) create_server boots (sample VNFMs)
    os_boot_networks: str = "none"  # "none", "auto" or comma-separated network UUIDs for create_server
    os_boot_timeout_s: float = Field(300, gt=0)  # create_server/delete_server wait for ACTIVE/gone
    # How long the openstack driver reuses reads of what only an operator or a new server changes (the compute
    # nodes of each host, resource-provider inventories, server groups); 0 reads them on every call.
    os_cache_ttl_s: float = Field(60, ge=0)

    # Notifications: a VNFM may scale inside the webhook request, so allow minutes.
    # At most the delivery activity's 10 min start-to-close (workflows/options.py WEBHOOK).
    webhook_timeout_s: float = Field(300, gt=0, le=600)
    # A notice that needs an answer and has not reached its project this long after its reply window (or lead time)
    # is given up and the default applies: the endpoint keeps failing. Covers a worker dying mid-POST (about 10 s).
    delivery_grace_s: float = Field(15.0, ge=0, le=3600)
    # The end of a session waits at most this long for notices still being retried (then gives them up).
    notice_drain_limit_s: float = Field(60.0, ge=0, le=3600)
    # Where webhooks may go besides public addresses: comma-separated CIDRs and host names, e.g.
    # "10.20.0.0/16,vnfm.internal". Loopback, private, link-local (the metadata address) and other non-global
    # addresses are refused unless listed here; checked at subscription time and again at each delivery, on the
    # resolved address (docs/security.md#outbound-webhooks-and-ssrf).
    webhook_allow: str = ""
    # The key every subscription's signing secret is derived from (HMAC-SHA256 of the subscription id and its
    # rotation count). The API and every worker need the same one. Unset: one is made on first use in
    # <data_dir>/webhook-signing.key (fine when they share the data dir, as embedded and in docker-compose).
    webhook_signing_key: SecretStr | None = None
    # How long, after a rotation, deliveries are also signed with the previous secret (Standard Webhooks carries
    # several signatures), so a VNFM can switch without refusing a notice.
    webhook_secret_grace_s: float = Field(24 * 3600, ge=0, le=30 * 24 * 3600)

    # Worker
    worker_max_concurrent_activities: int = Field(50, gt=0)
    # Workflows kept in memory between tasks (the SDK's sticky cache). 0 makes every workflow task a full replay:
    # slow, but the crash drill runs a worker so to prove that every history replays (docs/reliability.md).
    worker_max_cached_workflows: int = Field(1000, ge=0)
    # The worker's Prometheus endpoint (http://host:port/metrics): the Temporal SDK's own metrics and Fenix's
    # (docs/operations.md). Bound by `fenix-worker` only, once per process; 0: no endpoint.
    worker_metrics_port: int = Field(9464, ge=0, le=65535)
    worker_metrics_host: str = "0.0.0.0"
    # How often a worker with a metrics endpoint reads the running sessions (by Temporal visibility and a query
    # each) for the gauges of sessions, hosts and waits. Every such worker reports the same figures: with many
    # workers, set 0 on all but one or two. 0: no such gauges.
    metrics_census_s: float = Field(15.0, ge=0, le=3600)
    # Distinct projects a worker names in metric labels (reply latency, host waits); later ones count as "other",
    # so a cloud of thousands of tenants cannot blow up the series. 0: never name a project.
    metrics_project_labels: int = Field(50, ge=0, le=10000)
    # An aborted session whose history does not grow for this long is taken for wedged: it is terminated and its
    # hosts re-enabled for it (workflows/abort.py). A workflow task failing 3 times in a row counts at once.
    abort_quiet_limit_s: float = Field(900.0, gt=0)
    # Largest request body the API reads (413 above it), checked before parsing: from Content-Length, and while
    # the body streams in for chunked requests. Fenix's largest real bodies (a session with plug-ins) are a few KB.
    api_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    # Logs (fenix/logs.py): human-readable lines, or one JSON object per line for a log shipper. Both carry the
    # session, host, project and Temporal ids where they are known.
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Traces (fenix/tracing.py): off unless an OTLP/HTTP collector is named here (e.g. http://otel-collector:4318)
    # or by the standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
    otlp_endpoint: str | None = None
    # The worker's /healthz and /readyz (fenix/health_server.py); 0: none. 9464 is left to its Prometheus metrics.
    # Loopback by default, like the API: set 0.0.0.0 for probes from outside the host or container (Kubernetes).
    worker_health_port: int = Field(9465, ge=0, le=65535)
    worker_health_host: str = "127.0.0.1"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value  # FENIX_LOG_LEVEL=debug is fine too

    @property
    def api_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}/v1").rstrip("/")

    @property
    def tokens_path(self) -> Path:
        return self.tokens_file or self.data_dir / "tokens.json"

    @property
    def webhook_key_path(self) -> Path:
        return self.data_dir / "webhook-signing.key"

    @property
    def webhook_secrets_db(self) -> Path:
        """Rotation counts of the subscriptions' signing secrets (no secret is stored: they are derived)."""
        return self.data_dir / "webhook-secrets.sqlite"

    @property
    def sim_db_path(self) -> Path:
        return self.sim_db or self.data_dir / "simcloud.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()
