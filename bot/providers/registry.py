"""Provider names → instances: `NAME` or `NAME:ARG` (`anthropic:claude-sonnet-4-6`, `scripted:ci/script.toml`).

The shipped providers are a plain mapping. Another package adds one without touching this code by declaring
an entry point in the `etl_triage.providers` group; its object is a factory called with the text after the
colon (or None) that returns a `Provider` (bot/providers/base.py):

    # the other package's pyproject.toml
    [project.entry-points."etl_triage.providers"]
    vertex = "acme_triage.vertex:provider"      # def provider(arg: str | None) -> Provider

Then `etl-triage run --provider vertex:gemini-2.5` (or ETL_TRIAGE_PROVIDER) uses it. A shipped name wins over
an entry point of the same name. Each factory imports its provider only when asked for, so a run never loads
an SDK it does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from bot.errors import SettingsError
from bot.providers.base import Provider

ENTRY_POINT_GROUP = "etl_triage.providers"
ProviderFactory = Callable[[str | None], Provider]


def _offline(arg: str | None) -> Provider:
    from bot.providers.offline import OfflineProvider

    return OfflineProvider()


def _anthropic(arg: str | None) -> Provider:
    from bot.providers.anthropic import AnthropicProvider

    return AnthropicProvider.from_env(arg or None)


def _scripted(arg: str | None) -> Provider:
    from bot.providers.scripted import ScriptedProvider

    if not arg:
        raise SettingsError("the scripted provider needs its script: --provider scripted:FILE (TOML or JSON)")
    return ScriptedProvider.from_file(arg)


SHIPPED: dict[str, ProviderFactory] = {"offline": _offline, "anthropic": _anthropic, "scripted": _scripted}
USAGE = "offline, anthropic[:model] or scripted:FILE"


def factory(name: str) -> ProviderFactory | None:
    """The factory for `name`: a shipped provider, else an installed `etl_triage.providers` entry point."""
    if name in SHIPPED:
        return SHIPPED[name]
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        return None
    loaded = found[0].load()
    if not callable(loaded):
        raise SettingsError(f"provider {name!r} ({found[0].value}) is not callable; the entry point must name a "
                            "factory taking the text after the colon")
    return loaded  # type: ignore[no-any-return]


def installed() -> list[str]:
    """Every provider name this installation knows: shipped, then entry points."""
    extra = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} - set(SHIPPED))
    return [*SHIPPED, *extra]


def get_provider(spec: str = "offline") -> Provider:
    """`offline` (default), `anthropic` / `anthropic:<model>`, `scripted:FILE`, or an installed provider."""
    name, _, arg = spec.partition(":")
    make = factory(name)
    if make is None:
        others = [n for n in installed() if n not in SHIPPED]
        raise SettingsError(f"unknown provider {spec!r}; use {USAGE}"
                            + (f" (installed: {', '.join(others)})" if others else ""))
    return make(arg or None)
