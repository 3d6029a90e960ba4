"""Providers produce one stage's typed output. `get_provider("offline" | "anthropic[:model]" | "scripted:FILE" | …)`."""

from bot.providers.base import Provider, StageOutcome, StageRequest
from bot.providers.registry import get_provider

__all__ = ["Provider", "StageOutcome", "StageRequest", "get_provider"]
