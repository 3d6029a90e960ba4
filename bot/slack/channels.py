"""ETL_TRIAGE_ALERT_CHANNELS at start: ids are used as given; names (`#etl-ops`, `etl-ops`) are looked up once.

Slack's events carry channel ids only, so a name has to become an id before the first alert or that channel is
never watched. A name nobody can find stops the start: silently watching fewer channels would lose alerts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SettingsError

log = logging.getLogger(__name__)
CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{6,}")   # Slack's channel names are lower case, its ids upper case
PAGE = 200                                          # conversations.list: Slack advises at most 200 per page
MAX_PAGES = 500                                     # 100,000 channels: past that, ids are the sane way
DEADLINE_S = 30.0   # the walk runs before /healthz listens: a probe's patience, not Slack's, sets the bound
USE_IDS = "or list the channel's id instead (channel name → About → Channel ID, e.g. C0123ABCD)"


async def resolve_alert_channels(client: AsyncWebClient, entries: Iterable[str], *,
                                 deadline_s: float = DEADLINE_S) -> frozenset[str]:
    """The channel ids to watch. Ids need no call; names are found with conversations.list (public and private
    channels the bot can see, archived ones left out, page by page until every name is found), one INFO line
    each. SettingsError naming every name that was not found, and what to do."""
    entries = sorted(entries)                        # a frozenset from the environment: say them in order
    ids = {e for e in entries if CHANNEL_ID_RE.fullmatch(e)}
    wanted: dict[str, str] = {}                     # name as Slack spells it → as written in the variable
    for e in entries:
        if e not in ids:
            wanted.setdefault(e.strip().lstrip("#").lower(), e)
    if not wanted:
        return frozenset(ids)
    found: dict[str, dict[str, Any]] = {}           # filled page by page, so a timeout can say what is missing
    try:
        await asyncio.wait_for(_find(client, wanted, found), deadline_s)
    except TimeoutError:
        late = ", ".join(repr(written) for name, written in wanted.items() if name not in found)
        raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {late}, and conversations.list did not find "
                            f"them within {deadline_s:g} s (a large or rate-limited workspace); {USE_IDS}") from None
    if missing := [written for name, written in wanted.items() if name not in found]:
        raise SettingsError(
            f"ETL_TRIAGE_ALERT_CHANNELS names {', '.join(map(repr, missing))}, but the bot sees no such channel "
            f"(not archived); check the spelling, invite the bot there (/invite @etl-triage; a private channel is "
            f"visible only once the bot is a member), {USE_IDS}")
    for name, channel in found.items():
        note = "" if channel.get("is_member", True) else " (the bot is not a member: /invite @etl-triage there, " \
            "or no alert from it will arrive)"
        log.info("alert channel %s is %s%s", wanted[name], channel["id"], note,
                 extra={"channel": channel["id"], "channel_name": name})
    return frozenset(ids | {str(c["id"]) for c in found.values()})


async def _find(client: AsyncWebClient, wanted: dict[str, str], found: dict[str, dict[str, Any]]) -> None:
    names = ", ".join(map(repr, wanted.values()))
    cursor: str | None = None
    seen: set[str] = set()
    try:
        for _ in range(MAX_PAGES):
            resp = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                   limit=PAGE, cursor=cursor)
            for channel in resp.get("channels") or []:
                if channel.get("name") in wanted:
                    found.setdefault(channel["name"], channel)
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or len(found) == len(wanted):
                return
            if cursor in seen:   # a cursor Slack handed out before: the walk would never end
                raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {names}, and conversations.list returned "
                                    f"a page cursor it had returned before; {USE_IDS}")
            seen.add(cursor)
        raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {names}, not all found in {MAX_PAGES} pages of "
                            f"conversations.list; {USE_IDS}")
    except SlackApiError as e:
        data = getattr(e.response, "data", None)
        error = data.get("error") if isinstance(data, dict) else str(e)
        if error == "missing_scope":
            raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {names}: finding them needs the bot scopes "
                                "channels:read and groups:read (manifest.yml); add them and reinstall the app, "
                                f"{USE_IDS}") from None
        raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {names}, and conversations.list failed ({error}); "
                            f"{USE_IDS}") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise SettingsError(f"ETL_TRIAGE_ALERT_CHANNELS names {names}, and Slack could not be reached to find "
                            f"them ({e or type(e).__name__}); start again when it can, {USE_IDS}") from None
