"""The relay's configuration: a TOML file, then ``HOTLINE_RELAY_*`` environment variables over it.

Every key of the file lives in a section, and its environment variable is the section and the key:
``[ari] password`` is ``HOTLINE_RELAY_ARI_PASSWORD``; the two top-level keys ``switchboard`` and
``log_level`` are ``HOTLINE_RELAY_SWITCHBOARD`` and ``HOTLINE_RELAY_LOG_LEVEL``. docs/relay.md
lists and explains every key. Secrets are ``SecretStr``: they never appear in a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "HOTLINE_RELAY_"
# the service refuses bodies over 1 MiB (413); a batch stays well below it
SERVICE_MAX_BODY = 1024 * 1024
# the service reads at most this many events per body
SERVICE_MAX_EVENTS = 1000
SECTIONS = ("service", "ari", "ami", "spool", "forward", "pbx", "status")
TOP_LEVEL = ("switchboard", "log_level")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why (never a secret)."""


class RelaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    switchboard: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    log_level: str = "info"

    # [service] — where the events go
    service_url: str
    service_secret: SecretStr | None = None
    service_secret_file: Path | None = None
    service_ca_file: Path | None = None
    service_timeout: float = Field(default=30.0, gt=0)

    # [ari] — the PBX's ARI WebSocket (Asterisk's /ari/events)
    ari_enabled: bool = True
    ari_url: str = "ws://127.0.0.1:8088/ari/events"
    ari_user: str = "hotline-relay"
    ari_password: SecretStr | None = None
    ari_app: str = Field(default="hotline", pattern=r"^[A-Za-z0-9._-]{1,64}$")

    # [ami] — the PBX's manager interface
    ami_enabled: bool = False
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "hotline-relay"
    ami_secret: SecretStr | None = None
    ami_events: str = "on"
    ami_ping_interval: float = Field(default=20.0, gt=0)
    ami_ping_timeout: float = Field(default=10.0, gt=0)
    ami_ignore_events: list[str] = Field(default_factory=list)

    # [spool] — the durable local queue
    spool_path: Path = Path("/var/lib/hotline-relay/spool.sqlite3")
    spool_keep_sent_hours: float = Field(default=24.0, ge=0)
    spool_keep_rejected_days: float = Field(default=30.0, ge=0)

    # [forward] — posting to the service
    forward_batch_max_events: int = Field(default=100, ge=1, le=SERVICE_MAX_EVENTS)
    forward_batch_max_bytes: int = Field(default=256 * 1024, ge=1024, le=SERVICE_MAX_BODY // 2)
    forward_backoff_initial: float = Field(default=0.5, gt=0)
    forward_backoff_max: float = Field(default=30.0, gt=0)
    forward_retry_after_max: float = Field(default=600.0, gt=0)

    # [pbx] — reconnecting to the PBX
    pbx_backoff_initial: float = Field(default=1.0, gt=0)
    pbx_backoff_max: float = Field(default=30.0, gt=0)
    pbx_connect_timeout: float = Field(default=10.0, gt=0)

    # [status] — reporting the backlog
    status_enabled: bool = True
    status_host: str = "127.0.0.1"
    status_port: int = Field(default=9188, ge=0, le=65535)
    status_file: Path | None = None
    status_interval: float = Field(default=10.0, gt=0)
    status_log_interval: float = Field(default=60.0, gt=0)

    @field_validator("service_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://hotline.example.vn")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: the relay signs its requests with the secret")
        return value.rstrip("/")

    @field_validator("ari_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("must be a ws(s) URL such as ws://127.0.0.1:8088/ari/events")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: set [ari] user and password")
        if parts.query:
            raise ValueError("must have no query: the relay adds app= and subscribeAll=true")
        return value

    @field_validator("ami_ignore_events", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "RTCPSent,RTCPReceived"
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("must be debug, info, warning or error")
        return value.lower()

    @model_validator(mode="after")
    def _consistent(self) -> RelaySettings:
        if self.service_secret is None and self.service_secret_file is None:
            raise ValueError(
                "[service] needs secret or secret_file (hotline-api switchboard issue-credential)"
            )
        if self.service_secret is not None and self.service_secret_file is not None:
            raise ValueError("[service] has both secret and secret_file: keep one")
        if not self.ari_enabled and not self.ami_enabled:
            raise ValueError("[ari] and [ami] are both disabled: there is nothing to relay")
        if self.ari_enabled and self.ari_password is None:
            raise ValueError("[ari] password is missing (the ari.conf user's password)")
        if self.ami_enabled and self.ami_secret is None:
            raise ValueError("[ami] secret is missing (the manager.conf user's secret)")
        if self.forward_backoff_initial > self.forward_backoff_max:
            raise ValueError("[forward] backoff_initial is larger than backoff_max")
        if self.pbx_backoff_initial > self.pbx_backoff_max:
            raise ValueError("[pbx] backoff_initial is larger than backoff_max")
        return self

    def secret(self) -> str:
        """The switchboard's webhook secret (``whsec_…``), from the file or the setting."""
        if self.service_secret_file is not None:
            try:
                value = self.service_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"[service] secret_file {self.service_secret_file} cannot be read: {exc.strerror}"
                ) from None
        else:
            assert self.service_secret is not None
            value = self.service_secret.get_secret_value().strip()
        return value

    def hmac_key(self) -> bytes:
        """The Standard Webhooks key: the base64-decoded part of ``whsec_…``."""
        secret = self.secret()
        if not secret.startswith("whsec_"):
            raise ConfigError(
                "[service] secret must start with whsec_ (hotline-api switchboard issue-credential)"
            )
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ConfigError("[service] secret is not whsec_ followed by base64") from None
        if len(key) < 16:
            raise ConfigError("[service] secret is too short")
        return key


def _flatten(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a section")
            for inner, v in value.items():
                out[f"{key}_{inner}"] = v
        elif key in TOP_LEVEL:
            out[key] = value
        else:
            raise ConfigError(
                f"{source}: unknown key or section {key!r} (sections: {', '.join(SECTIONS)}; "
                f"top-level keys: {', '.join(TOP_LEVEL)})"
            )
    return out


def _describe(error: ValidationError, fields_from_env: set[str]) -> str:
    lines = []
    for e in error.errors():
        loc = e["loc"][0] if e["loc"] else ""
        name = str(loc)
        if name in fields_from_env:
            where = ENV_PREFIX + name.upper()
        elif name and "_" in name and name.split("_", 1)[0] in SECTIONS:
            section, key = name.split("_", 1)
            where = f"[{section}] {key}"
        else:
            where = name or "configuration"
        # pydantic's message, never the input (it could be a secret)
        lines.append(f"{where}: {e['msg']}")
    return "; ".join(lines)


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> RelaySettings:
    """The file's settings with the environment's over them; ConfigError with a readable reason."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as f:
                values = _flatten(tomllib.load(f), str(path))
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    env = os.environ if environ is None else environ
    from_env: set[str] = set()
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in RelaySettings.model_fields:
            values[key] = value
            from_env.add(key)
    try:
        return RelaySettings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, from_env)) from None
