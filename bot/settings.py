"""The only module that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    topology: str = "topology.toml"
    provider: str = "offline"
    log_root: str | None = None
    alert_channels: frozenset[str] = frozenset()
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    max_concurrent_triages: int = 4
    state_dir: str = "~/.local/state/etl-triage"
    database_url: str | None = None
    retention_days: float = 90.0
    lease_s: float = 30.0
    lookback_h: float = 2.0
    post_interval_s: float = 1.0
    log_level: str | None = None
    log_format: str = "text"
    health_port: int = 8081
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        channels = frozenset(c.strip() for c in env.get("ETL_TRIAGE_ALERT_CHANNELS", "").split(",") if c.strip())
        try:
            concurrency = int(env.get("ETL_TRIAGE_MAX_CONCURRENCY", "4"))
        except ValueError:
            raise SettingsError("ETL_TRIAGE_MAX_CONCURRENCY must be an integer") from None
        state_home = env.get("XDG_STATE_HOME") or "~/.local/state"
        try:
            health_port = int(env.get("ETL_TRIAGE_HEALTH_PORT", "8081"))
        except ValueError:
            raise SettingsError("ETL_TRIAGE_HEALTH_PORT must be a port number (0 picks a free one)") from None
        log_format = env.get("ETL_TRIAGE_LOG_FORMAT", "text").strip().lower() or "text"
        if log_format not in ("text", "json"):
            raise SettingsError(f"ETL_TRIAGE_LOG_FORMAT={log_format!r}: use text or json")
        return cls(
            state_dir=env.get("ETL_TRIAGE_STATE_DIR") or f"{state_home.rstrip('/')}/etl-triage",
            database_url=env.get("ETL_TRIAGE_DATABASE_URL") or None,
            retention_days=_number(env, "ETL_TRIAGE_RETENTION_DAYS", 90.0, "days"),
            lease_s=_number(env, "ETL_TRIAGE_LEASE_S", 30.0, "seconds"),
            lookback_h=_number(env, "ETL_TRIAGE_LOOKBACK_H", 2.0, "hours"),
            post_interval_s=_number(env, "ETL_TRIAGE_POST_INTERVAL_S", 1.0, "seconds"),
            topology=env.get("ETL_TRIAGE_TOPOLOGY", "topology.toml"),
            provider=env.get("ETL_TRIAGE_PROVIDER", "offline"),
            log_root=env.get("ETL_TRIAGE_LOG_ROOT") or None,
            alert_channels=channels,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_api_url=env.get("SLACK_API_URL") or None,
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
            max_concurrent_triages=concurrency,
            log_level=env.get("ETL_TRIAGE_LOG_LEVEL") or None,
            log_format=log_format,
            health_port=health_port,
        )

    def require(self, name: str) -> str:
        """The value of a required setting, or a SettingsError naming the variable."""
        value: str | None = getattr(self, name.lower(), None)  # the secrets and URLs are str | None
        if not value:
            raise SettingsError(f"{name.upper()} is not set; export it (see README, 'Install in Slack')")
        return value


def _number(env: Mapping[str, str], name: str, default: float, unit: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of {unit}, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value
