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
        try:
            health_port = int(env.get("ETL_TRIAGE_HEALTH_PORT", "8081"))
        except ValueError:
            raise SettingsError("ETL_TRIAGE_HEALTH_PORT must be a port number (0 picks a free one)") from None
        log_format = env.get("ETL_TRIAGE_LOG_FORMAT", "text").strip().lower() or "text"
        if log_format not in ("text", "json"):
            raise SettingsError(f"ETL_TRIAGE_LOG_FORMAT={log_format!r}: use text or json")
        return cls(
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
        value = getattr(self, name.lower(), None)
        if not value:
            raise SettingsError(f"{name.upper()} is not set; export it (see README, 'Install in Slack')")
        return value
