"""One Settings object, read from the environment (``SMARTPARK_*``) and CLI options.

Nested sections use ``__``: ``SMARTPARK_INFLUX__URL``, ``SMARTPARK_MQTT__PASSWORD``.
Nothing here runs at import time; ``smartpark.cli.settings`` builds the Settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartpark.model import Id
from smartpark.wire import Limits

_KNOWN_BAD_SECRETS = {"changeme", "password", "admin", "secret", "root"}


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic_root: Id = "smartpark"
    client_id: str = Field(default="smartpark-collector-1", min_length=1, max_length=128)
    # None: a plain subscription. A group name: ``$share/{group}/...`` so that several
    # collectors split the load. Mosquitto 2.0 does not restore shared subscriptions
    # from persistence after a broker restart (see README), plain ones it does.
    share_group: Id | None = None
    session_expiry_s: int = Field(default=86_400, ge=0)
    # Upper bound on QoS 1 messages the broker sends us before we acknowledge: it bounds
    # the collector's memory and is how backpressure reaches the broker.
    receive_maximum: int = Field(default=5_000, ge=1, le=65_535)
    keepalive_s: int = Field(default=30, ge=5)
    tls_ca: Path | None = Field(
        default=None, description="CA certificate (PEM): connect with TLS, verifying the broker"
    )
    tls_cert: Path | None = Field(default=None, description="client certificate (PEM), optional")
    tls_key: Path | None = Field(default=None, description="the client certificate's key (PEM)")

    @model_validator(mode="after")
    def _tls_cert_needs_ca_and_key(self) -> MqttSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("mqtt tls_cert and tls_key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError("mqtt tls_cert needs tls_ca (client certificates are sent over TLS)")
        return self


class InfluxSettings(BaseModel):
    url: str = "http://127.0.0.1:8086"
    api: Literal["v1", "v2"] = "v1"
    database: Id = "smartpark"
    retention_policy: str | None = None
    # Raw readings live in a retention policy of their own (v1), the roll-ups in the
    # database's default one, kept; 0 keeps readings with the roll-ups, for ever.
    raw_retention_days: int = Field(default=410, ge=0)
    raw_retention_policy: Id = "raw"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    org: str | None = None
    bucket: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    create_database: bool = True

    @model_validator(mode="after")
    def _v2_needs_token_org_bucket(self) -> InfluxSettings:
        if self.api == "v2" and not (self.token and self.org and self.bucket):
            raise ValueError("influx api v2 needs token, org and bucket")
        return self


# The files the defaults name are relative to the working directory (the repository's
# root); from elsewhere a user gives them, and an error says how.
GIVEN_BY = {
    Path("examples/park.yaml"): "--registry FILE or SMARTPARK_PARK__REGISTRY",
    Path("examples/processing.yaml"): "--config FILE or SMARTPARK_PROCESSING__CONFIG",
    Path("examples/alerts.yaml"): "--config FILE or SMARTPARK_ALERTS__CONFIG",
}


class ParkSettings(BaseModel):
    """What every stage reads about the park: the registry, which park a single-park stage
    serves (``smartpark.parks.choose_park``) and what a reading may be (decode limits)."""

    registry: Path = Path("examples/park.yaml")
    id: Id | None = Field(
        default=None, description="the park a single-park stage serves (default: the only one)"
    )
    max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    max_readings_per_message: int = Field(default=1_000, ge=1)
    max_future_s: int = Field(default=300, ge=0)
    max_past_days: int = Field(default=400, ge=1)

    def decode_limits(self) -> Limits:
        """What every stage that decodes readings accepts."""
        return Limits(
            max_payload_bytes=self.max_payload_bytes,
            max_readings=self.max_readings_per_message,
            max_future_ms=self.max_future_s * 1000,
            max_past_ms=self.max_past_days * 86_400_000,
        )


def user_state_dir() -> Path:
    """Per-user state (``$XDG_STATE_HOME/smartpark``, else ``~/.local/state/smartpark``):
    never the working directory, which changes between runs."""
    base = os.environ.get("XDG_STATE_HOME")
    return (Path(base) if base else Path.home() / ".local" / "state") / "smartpark"


class IngestSettings(BaseModel):
    # Old names of ``park`` settings, still read (ALIASES): None when not given.
    registry: Path | None = None
    max_payload_bytes: int | None = Field(default=None, ge=64)
    max_readings_per_message: int | None = Field(default=None, ge=1)
    max_future_s: int | None = Field(default=None, ge=0)
    max_past_days: int | None = Field(default=None, ge=1)
    batch_max_points: int = Field(default=5_000, ge=1)
    batch_max_age_ms: int = Field(default=50, ge=1)
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = Field(default=1 << 30, ge=1024)
    silence_unhealthy_s: float = Field(default=60.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=9108, ge=0, le=65535)


class ProcessingSettings(BaseModel):
    config: Path = Path("examples/processing.yaml")
    park: Id | None = Field(default=None, description="old name of park.id (ALIASES)")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=9109, ge=0, le=65535)
    state_dir: Path = Field(
        default_factory=lambda: user_state_dir() / "processing",
        description="readings journal, written-windows progress and ledger, per park",
    )
    store_failing_unhealthy_s: float = Field(default=30.0, gt=0)


class AlertsSettings(BaseModel):
    config: Path = Path("examples/alerts.yaml")
    db: Path = Path("var/alerts.db")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=9110, ge=0, le=65535)
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description='HMAC keys by name, as JSON: {"e08": "..."}'
    )
    smtp_password: SecretStr | None = None
    tick_s: float = Field(default=0.5, gt=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    keys_db: Path = Field(default=Path("var/api.db"), description="API keys and the audit log")
    rate_per_s: float = Field(default=20.0, gt=0, description="requests per second per key")
    burst: int = Field(default=60, ge=1, description="requests a key may make at once")
    max_points: int = Field(default=5_000, ge=100, description="points in one answer, at most")
    max_range_days: int = Field(default=400, ge=1, description="the longest period one asks for")
    stream_replay_s: int = Field(
        default=300, ge=0, description="how far back Last-Event-ID resumes a live stream"
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="how long a web page sign-in lasts"
    )


class DashboardsSettings(BaseModel):
    language: Literal["en", "zh"] = Field(default="en", description="dashboard titles")
    influx_url: str = Field(
        default="http://influxdb:8086", description="InfluxDB as Grafana reaches it"
    )
    prometheus_url: str = Field(
        default="http://prometheus:9090", description="Prometheus as Grafana reaches it"
    )
    grafana_url: str = "http://127.0.0.1:3000"
    token: SecretStr | None = Field(default=None, description="Grafana service-account token")


class GatewaySettings(BaseModel):
    id: Id | None = Field(
        default=None, description="which gateway of the registry this is (default: the only one)"
    )
    client_id: str | None = Field(
        default=None, max_length=128, description="MQTT client id (default gateway-{park}-{id})"
    )
    buffer_dir: Path = Field(
        default=Path("var/gateway-buffer"), description="store-and-forward buffer"
    )
    buffer_max_bytes: int = Field(default=256 << 20, ge=1024)
    hj212_host: str = "0.0.0.0"
    hj212_port: int | None = Field(
        default=None, ge=0, le=65535, description="HJ 212 listener (0: any free port)"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=9111, ge=0, le=65535)


#: Old setting -> its ``park`` setting: still read, so ``SMARTPARK_INGEST__REGISTRY`` keeps
#: working; given together with the new name, the two must agree.
ALIASES: dict[tuple[str, str], str] = {
    ("ingest", "registry"): "registry",
    ("ingest", "max_payload_bytes"): "max_payload_bytes",
    ("ingest", "max_readings_per_message"): "max_readings_per_message",
    ("ingest", "max_future_s"): "max_future_s",
    ("ingest", "max_past_days"): "max_past_days",
    ("processing", "park"): "id",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMARTPARK_", env_nested_delimiter="__", extra="forbid"
    )

    park: ParkSettings = ParkSettings()
    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    ingest: IngestSettings = IngestSettings()
    processing: ProcessingSettings = ProcessingSettings()
    alerts: AlertsSettings = AlertsSettings()
    api: ApiSettings = ApiSettings()
    dashboards: DashboardsSettings = DashboardsSettings()
    gateway: GatewaySettings = GatewaySettings()

    @model_validator(mode="after")
    def _raw_readings_outlive_their_acceptance(self) -> Settings:
        days = self.influx.raw_retention_days
        past = self.ingest.max_past_days or self.park.max_past_days  # (the old name first)
        if self.influx.api == "v1" and days and days <= past:
            raise ValueError(
                f"influx raw_retention_days ({days}) must exceed park max_past_days "
                f"({past}): the store would drop readings the collector accepts (0 keeps "
                "readings for ever)"
            )
        return self

    @model_validator(mode="after")
    def _old_names(self) -> Settings:
        given = self.park.model_fields_set
        for (section, old), new in ALIASES.items():
            value = getattr(getattr(self, section), old)
            if value is None:
                continue
            if new in given and getattr(self.park, new) != value:
                raise ValueError(
                    f"{section}.{old} is the old name of park.{new}: give one of them, "
                    f"not {value!r} and {getattr(self.park, new)!r}"
                )
            setattr(self.park, new, value)
        return self

    @model_validator(mode="after")
    def _refuse_known_bad_secrets(self) -> Settings:
        for name, secret in (
            ("mqtt.password", self.mqtt.password),
            ("influx.password", self.influx.password),
            ("influx.token", self.influx.token),
            ("alerts.smtp_password", self.alerts.smtp_password),
            ("dashboards.token", self.dashboards.token),
            *((f"alerts.webhook_secrets.{k}", v) for k, v in self.alerts.webhook_secrets.items()),
        ):
            if secret is not None and secret.get_secret_value().lower() in _KNOWN_BAD_SECRETS:
                raise ValueError(f"{name} is a well-known default; set a real secret")
        return self


def to_env(settings: Settings) -> dict[str, str]:
    """The ``SMARTPARK_*`` environment that reproduces ``settings`` in a child process."""
    env: dict[str, str] = {}
    for section_name in (
        "park", "mqtt", "influx", "ingest", "processing", "alerts", "api", "dashboards",
        "gateway",
    ):  # fmt: skip
        section = getattr(settings, section_name)
        for name in type(section).model_fields:
            value = getattr(section, name)
            if value is None or (section_name, name) in ALIASES:
                continue  # the park section carries what an old name gave
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, dict):
                value = json.dumps(
                    {
                        k: v.get_secret_value() if isinstance(v, SecretStr) else v
                        for k, v in value.items()
                    }
                )
            env[f"SMARTPARK_{section_name.upper()}__{name.upper()}"] = str(value)
    return env
