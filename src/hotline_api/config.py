"""Settings, read from the environment (prefix ``HOTLINE_``) and an optional ``.env`` file.

Every setting is listed with its meaning in the README's configuration table.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the embedded database and the generated keys live when nothing is configured.

    Root gets the system location (the PostgreSQL user must be able to reach it, and root's home is
    closed to others); anyone else gets their own XDG data folder.
    """
    if os.name == "posix" and os.geteuid() == 0:
        return Path("/var/lib/hotline-api")
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "hotline-api"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", env_file=".env", extra="ignore")

    # Database. Unset: an embedded PostgreSQL is started in data_dir/postgres.
    database_url: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    embedded_pg_user: str = "hotline-pg"
    migrate_on_start: bool = True
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # connections of each process kept for /route alone, so that decisions never wait behind the
    # intake's writes for a connection (a decision is one statement of about a millisecond)
    db_route_pool_size: int = 4
    # seconds a pooled connection serves before it is closed and replaced: libpq never gives back
    # the buffer memory a large statement or result made it take, so a connection kept for ever
    # holds its largest message for ever (docs/reliability.md, "Memory over time")
    db_connection_lifetime: float = 600

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    # a service process resident past this many MB (10^6 bytes) finishes its requests and exits, to
    # be started again by its supervisor; 0: never (hotline_api.ops.memory, docs/reliability.md)
    memory_limit_mb: float = Field(default=180, ge=0)
    memory_check_seconds: float = Field(default=30, gt=0)
    # Peers whose X-Forwarded-For is believed (a reverse proxy); empty: none.
    trusted_proxies: list[str] = Field(default_factory=list)

    # Calls with no event for this long are closed by the sweeper (their end is their last event)
    sweep_idle_hours: float = 4.0
    sweep_interval_seconds: float = 60.0

    # A bearer token Prometheus may use for /metrics; unset, only admins' tokens are accepted.
    metrics_token: SecretStr | None = None

    # Personal-data protection. Unset: keys are created once in data_dir/keys/.
    # encryption_keys: "kid1:base64key,kid2:base64key"; the active key encrypts, all decrypt.
    encryption_keys: SecretStr | None = None
    active_key_id: str | None = None
    hash_key: SecretStr | None = None

    # Retention (hotline-api purge): how long each class of personal data is kept, in days
    # numbers and recordings of silent, nuisance and wrong-number calls (the calls stay, anonymous)
    retention_silent_call_days: int = 180
    # names, numbers, notes and free text of cases closed this long ago (codes stay, for reports)
    retention_closed_case_days: int = 5 * 365
    # the raw Asterisk events (the call records built from them stay)
    retention_raw_event_days: int = 400
    # bodies refused by the webhooks and kept for inspection
    retention_quarantine_days: int = 90

    # Sessions and login throttling
    token_ttl_hours: int = 12
    # the console signs out after this long without a key press, a click or a call of one's own
    console_idle_minutes: int = Field(default=30, ge=1, le=720)
    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 20
    login_failure_window_minutes: int = 15
    # Cookies are always Secure; browsers accept them on http://localhost.
    cookie_name: str = "hotline_session"
    csrf_cookie_name: str = "hotline_csrf"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def embedded(self) -> bool:
        return not self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
