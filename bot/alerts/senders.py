"""Who posted a message, as Slack says it (bot_id, app, bot_profile, username), and which tool that is.

People are not alerts: a message whose sender Slack reports as a person is never triaged on its own words,
unless the topology lists that sender under `[alerts] senders` (teams whose alerts post with a user token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_WORD_RE = re.compile(r"[a-z0-9]+")
# name fragment (lower case) → source. Checked against the sender's names first, then the message's opening.
SOURCES: tuple[tuple[str, str], ...] = (
    ("airflow", "airflow"), ("astronomer", "airflow"), ("mwaa", "airflow"), ("composer", "airflow"),
    ("dagster", "dagster"), ("dagit", "dagster"), ("prefect", "prefect"), ("dbt cloud", "dbt"),
    ("dbt", "dbt"), ("elementary", "elementary"), ("great expectations", "great_expectations"),
    ("great_expectations", "great_expectations"), ("gx", "great_expectations"), ("airbyte", "airbyte"),
    ("fivetran", "fivetran"), ("meltano", "meltano"), ("kestra", "kestra"), ("mage", "mage"), ("argo", "argo"),
    ("glue", "aws_glue"), ("aws chatbot", "aws_glue"), ("amazon q", "aws_glue"), ("eventbridge", "aws_glue"),
    ("github", "github_actions"), ("jenkins", "jenkins"), ("datadog", "datadog"), ("pagerduty", "pagerduty"),
    ("opsgenie", "opsgenie"),
)
# Words in the message's opening that identify the tool when the sender's name does not.
TEXT_SIGNS: tuple[tuple[str, str], ...] = (
    ("dag_id=", "airflow"), ("<task(", "airflow"), ("airflow", "airflow"), ("dagster", "dagster"),
    ("dagit", "dagster"), ("execution of run for", "dagster"), ("flow run ", "prefect"), ("prefect", "prefect"),
    ("dbt cloud", "dbt"), ("on job \"", "dbt"), ("elementary", "elementary"),
    ("batch validation status", "great_expectations"), ("expectation suite", "great_expectations"),
    ("airbyte", "airbyte"), ("your connection", "airbyte"), ("fivetran", "fivetran"), ("meltano", "meltano"),
    ("kestra", "kestra"), ("➛", "kestra"), ("mage", "mage"), ("argo", "argo"), ("workflow.status", "argo"),
    ("glue job", "aws_glue"), ("aws glue", "aws_glue"), ("github actions", "github_actions"),
    ("jenkins", "jenkins"), ("datadog", "datadog"), ("pagerduty", "pagerduty"), ("opsgenie", "opsgenie"),
)


@dataclass(frozen=True)
class Sender:
    kind: str                 # bot | person | allowed-person | unknown
    id: str | None            # bot_id / app_id / user id
    name: str | None          # username / bot_profile.name
    source: str               # airflow | dagster | … | webhook | slack

    @property
    def is_bot(self) -> bool:
        return self.kind in ("bot", "allowed-person")

    def describe(self) -> str:
        who = self.name or self.id or "?"
        return f"{self.kind} {who!s} ({self.source})"


def identify(event: Mapping[str, Any], text: str, allowed: Sequence[str] = ()) -> Sender:
    """The sender: a bot (bot_id, app_id, bot_profile or subtype bot_message) or a person (user only)."""
    bot_profile = event.get("bot_profile")
    profile: Mapping[str, Any] = bot_profile if isinstance(bot_profile, Mapping) else {}
    bot_id = _s(event.get("bot_id")) or _s(profile.get("id"))
    app_id = _s(event.get("app_id")) or _s(profile.get("app_id"))
    user = _s(event.get("user"))
    name = _s(event.get("username")) or _s(profile.get("name"))
    is_bot = bool(bot_id or app_id or profile or event.get("subtype") == "bot_message")
    if is_bot:
        kind = "bot"
    elif user and (user in allowed or (name and name in allowed)):
        kind = "allowed-person"
    else:
        kind = "person" if user else "unknown"
    return Sender(kind, bot_id or app_id or user, name, detect_source(name, text, is_bot))


def detect_source(name: str | None, text: str, bot: bool) -> str:
    """The tool: from the sender's name, else from the message's opening words; whole words only, so
    "image" is not Mage and "cargo" is not Argo."""
    for haystack, signs in (((name or "").lower(), SOURCES), (text[:2000].lower(), TEXT_SIGNS)):
        words = set(_WORD_RE.findall(haystack))
        for needle, source in signs:
            if (needle in words) if needle.isalnum() else (needle in haystack):
                return source
    return "webhook" if bot else "slack"


def _s(value: Any) -> str | None:
    return str(value)[:200] if isinstance(value, str) and value else None
