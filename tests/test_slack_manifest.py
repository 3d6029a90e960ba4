"""manifest.yml is valid against Slack's published app-manifest schema and asks only for what we use."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT

# Slack's published app-manifest schema (MIT, Slack Technologies; its licence beside it), kept in the repo so the
# check runs on every clone instead of skipping where the design folder is not next to the checkout
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "slack-manifest.schema.1.0.0.json"


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_slack_manifest_validates_against_slack_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(_manifest(), schema)


def test_slack_manifest_declares_command_events_interactivity_and_minimal_scopes():
    m = _manifest()
    assert [c["command"] for c in m["features"]["slash_commands"]] == ["/triage"]
    assert m["features"]["bot_user"]["display_name"]
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {"message.channels", "message.groups"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert set(m["oauth_config"]["scopes"]["bot"]) == {
        "chat:write", "commands", "channels:history", "groups:history", "channels:read", "groups:read",
        "reactions:write"}


def test_slack_manifest_schema_rejects_a_broken_manifest():
    broken = _manifest()
    del broken["display_information"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()))
