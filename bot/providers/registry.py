"""Provider names → instances."""

from __future__ import annotations

from bot.errors import SettingsError
from bot.providers.base import Provider


def get_provider(spec: str = "offline") -> Provider:
    """`offline` (default) or `anthropic` / `anthropic:<model>`."""
    name, _, model = spec.partition(":")
    if name == "offline":
        from bot.providers.offline import OfflineProvider

        return OfflineProvider()
    if name == "anthropic":
        from bot.providers.anthropic import AnthropicProvider

        return AnthropicProvider.from_env(model or None)
    raise SettingsError(f"unknown provider {spec!r}; use 'offline' or 'anthropic[:model]'")
