"""`etl-triage serve` refuses to start without the settings it needs, naming the variable."""

from __future__ import annotations

import argparse

import pytest

from bot.errors import SettingsError
from bot.settings import Settings
from bot.slack.serve import serve
from tests.fakes.slack_world import make_topology


@pytest.mark.parametrize(("settings", "http", "variable"), [
    (Settings(), False, "SLACK_BOT_TOKEN"),
    (Settings(slack_bot_token="xoxb-1"), False, "SLACK_APP_TOKEN"),
    (Settings(slack_bot_token="xoxb-1"), True, "SLACK_SIGNING_SECRET"),
])
async def test_slack_serve_missing_setting_names_the_variable(tmp_path, settings, http, variable):
    with pytest.raises(SettingsError) as e:
        await serve(argparse.Namespace(http=http, port=0), settings, make_topology(tmp_path))
    assert variable in str(e.value) and "\n" not in str(e.value)
