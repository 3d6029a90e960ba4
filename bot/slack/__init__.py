"""The Slack bot: `build_app` (app.py), listeners, Block Kit rendering, delivery dedup and pacing."""
