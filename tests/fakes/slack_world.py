"""A running bot for tests: fake Web API + the real Bolt app served over HTTP on loopback (port 0).

Inbound requests are signed like Slack signs them (v0 HMAC-SHA256 over `v0:<timestamp>:<body>`). State goes
to a real SQLite file in the test's directory (or the store URL given), so a second `SlackWorld.start` on the
same directory is a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.settings import Settings
from bot.slack.app import build_bolt_app, build_runtime
from bot.slack.recovery import recover
from bot.slack.runtime import Pacing, Runtime
from bot.slack.serve import EVENTS_PATH, start_http
from bot.store import open_store
from bot.topology import Topology, load_topology
from tests.fakes.slack_api import BOT_ID, TEAM_ID, FakeSlackAPI

SECRET = "test-signing-secret"
ALERTS = "CALERTS"
OTHER = "COTHER"
ORDERS_LOG = """\
[2026-11-20, 02:00:03 UTC] INFO - Starting attempt 1 of 3
[2026-11-20, 02:00:14 UTC] ERROR - Task failed with exception
Traceback (most recent call last):
  File "/opt/airflow/dags/orders/load.py", line 88, in load_orders
    df["customer_id"] = df["customer_id"].astype("int64")
KeyError: 'customer_id' <!channel> <@U999> & more
[2026-11-20, 02:00:14 UTC] INFO - Task exited with return code 1
"""

TOPOLOGY = """\
[pipeline]
name = "t"
timeout_s = 30
[vars]
log_root = "/nonexistent"
[[pipeline.stages]]
name = "classify"
prompt_file = "p.md"
read = ["{log_root}/**"]
[[pipeline.stages]]
name = "investigate"
prompt_file = "p.md"
depends_on = ["classify"]
branch_on = "classify"
read = ["{log_root}/**"]
[[pipeline.stages]]
name = "recommend"
prompt_file = "p.md"
depends_on = ["classify", "investigate"]
[jobs."*"]
logs = "{log_root}/{job}"
[jobs.orders_daily]
team = "orders"
[jobs.customer_sync]
team = "crm"
# UHUMAN stands for a team whose alerts are posted with a user token: allowed to raise alerts.
[alerts]
senders = ["UHUMAN"]
%(escalation)s
%(extra)s
"""
ESCALATION = """\
[escalation.data]
team = "Data Engineering"
channel = "CDATAENG"
mention = "SDATAENG"
[escalation.infra]
team = "Platform"
channel = "CPLATFORM"
mention = "SPLATFORM"
[escalation.code]
team = "Job owners"
[escalation.unknown]
team = "Data on-call"
channel = "CONCALL"
mention = "SONCALL"
"""


def make_topology(tmp: Path, escalation: bool = True, extra: str = "") -> Topology:
    (tmp / "p.md").write_text("prompt\n")
    logs = tmp / "logs"
    (logs / "orders_daily").mkdir(parents=True, exist_ok=True)
    (logs / "orders_daily" / "scheduled__2026-11-19T02_00_00.log").write_text(ORDERS_LOG)
    (tmp / "topology.toml").write_text(TOPOLOGY % {"escalation": ESCALATION if escalation else "", "extra": extra})
    return load_topology(tmp / "topology.toml", {"log_root": str(logs)})


def sign(body: str, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SlackWorld:
    fake: FakeSlackAPI
    rt: Runtime
    url: str
    session: aiohttp.ClientSession
    _runner: Any
    _n: int = 0

    own_fake: bool = True

    @classmethod
    async def start(cls, tmp: Path, *, pacing: Pacing | None = None, escalation: bool = True,
                    settings: Settings | None = None, fake: FakeSlackAPI | None = None,
                    store_url: str | None = None, durable: bool = True, recover_at_start: bool = False,
                    lease_s: float = 30.0, channels: frozenset[str] = frozenset({ALERTS}),
                    extra_topology: str = "", provider: Any = None) -> SlackWorld:
        """A bot on loopback. `fake`: share a Slack (a restart or a second replica); `durable=False`: no store."""
        own_fake = fake is None
        fake = fake or await FakeSlackAPI().start()
        settings = settings or Settings(slack_bot_token=fake.token, slack_signing_secret=SECRET,
                                        slack_api_url=fake.api_url, alert_channels=channels, lease_s=lease_s)
        store = await open_store(store_url or f"sqlite:///{tmp / 'state' / 'etl-triage.db'}") if durable else None
        topo = make_topology(tmp, escalation, extra_topology)
        rt = build_runtime(settings, topo, pacing=pacing or Pacing(0, 0), store=store, provider=provider)
        app = build_bolt_app(rt)
        runner, port = await start_http(app, rt, "127.0.0.1", 0)
        world = cls(fake, rt, f"http://127.0.0.1:{port}", aiohttp.ClientSession(), runner, own_fake=own_fake)
        if recover_at_start:
            await recover(rt)
        return world

    async def close(self, drain_timeout_s: float = 10) -> None:
        await self.rt.aclose(drain_timeout_s)
        await self._runner.cleanup()
        await self.session.close()
        if self.own_fake:
            await self.fake.stop()

    async def idle(self) -> None:
        """Until every background triage/click handler has finished."""
        await self.rt.tracker.wait_idle()

    # ------------------------------------------------------------------ inbound

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
                   secret: str = SECRET) -> aiohttp.ClientResponse:
        h = {"Content-Type": content_type, **sign(body, secret), **(headers or {})}
        async with self.session.post(self.url + EVENTS_PATH, data=body.encode(), headers=h) as resp:
            await resp.read()
            return resp

    async def event(self, event: dict[str, Any], retry_num: int | None = None, **kw: Any) -> aiohttp.ClientResponse:
        self._n += 1
        event = {"type": "message", "channel": ALERTS, "ts": f"1700000{self._n:03d}.000200", **event}
        if not event.get("subtype") and not event.get("thread_ts"):  # it is in the channel now, as in Slack
            fields = {k: v for k, v in event.items() if k not in ("channel", "ts", "text", "type")}
            self.fake.messages.setdefault((event["channel"], event["ts"]),
                                          {"type": "message", "ts": event["ts"], "text": event.get("text", ""),
                                           **fields})
        body = json.dumps({"token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback",
                           "event_id": f"Ev{self._n}", "event_time": 1700000000, "event": event})
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return await self.post(body, "application/json", headers, **kw)

    async def resend(self, raw_event: dict[str, Any], retry_num: int = 1) -> aiohttp.ClientResponse:
        body = json.dumps({"token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback",
                           "event_id": "EvRetry", "event_time": 1700000000, "event": raw_event})
        return await self.post(body, "application/json",
                               {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})

    async def command(self, text: str, channel: str = OTHER) -> tuple[aiohttp.ClientResponse, str]:
        form = {"token": "x", "team_id": TEAM_ID, "channel_id": channel, "channel_name": "ops", "user_id": "UALICE",
                "user_name": "alice", "command": "/triage", "text": text, "api_app_id": "A1",
                "response_url": self.fake.response_url(), "trigger_id": "1.2.3"}
        body = urlencode(form)
        h = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with self.session.post(self.url + EVENTS_PATH, data=body.encode(), headers=h) as resp:
            return resp, await resp.text()

    async def click(self, channel: str, message: dict[str, Any], action_id: str,
                    user: str = "UBOB") -> aiohttp.ClientResponse:
        button = next(e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
                      if e["action_id"] == action_id)
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": user, "name": "bob"},
            "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3", "response_url": self.fake.response_url("b"),
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                          "is_ephemeral": False},
            "channel": {"id": channel, "name": "ops"}, "message": message,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "triage_actions",
                         "value": button["value"], "text": button["text"], "action_ts": "1700000999.1"}],
        }
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def submit_view(self, view: dict[str, Any], values: dict[str, Any],
                          user: str = "UBOB") -> aiohttp.ClientResponse:
        """A modal's submission (view_submission), with `values` as Slack sends `view.state.values`."""
        payload = {"type": "view_submission", "team": {"id": TEAM_ID}, "user": {"id": user, "name": "bob"},
                   "api_app_id": "A1", "token": "x", "trigger_id": "1.2.4",
                   "view": {"type": "modal", **view, "id": view.get("id", "V1"), "state": {"values": values}}}
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    # ------------------------------------------------------------------ outbound helpers

    def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for (ch, _), m in self.fake.messages.items() if ch == channel and m.get("thread_ts") == thread_ts]


__all__ = ["ALERTS", "BOT_ID", "OTHER", "SECRET", "SlackWorld", "make_topology", "sign"]
