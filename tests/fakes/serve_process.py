"""`etl-triage serve --http --port 0` as a real child process, talking to the fake Web API; signed events in."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ROOT
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.slack_world import SECRET, sign

LISTENING = re.compile(r"listening on http://0\.0\.0\.0:(\d+)")


def serve_env(fake: FakeSlackAPI, channels: list[str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETL_TRIAGE_"))}
    return {**env, "SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
            "ETL_TRIAGE_ALERT_CHANNELS": ",".join(channels), **extra}


@dataclass
class ServeProcess:
    proc: asyncio.subprocess.Process
    port: int
    session: aiohttp.ClientSession
    stderr: list[str] = field(default_factory=list)
    _n: int = 0
    _drain: asyncio.Task | None = None

    @classmethod
    async def start(cls, tmp: Path, env: dict[str, str]) -> ServeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0", "--health-port", "0",
            "--topology", str(tmp / "topology.toml"), "--log-root", str(tmp / "logs"),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        seen: list[str] = []
        async with asyncio.timeout(60):
            while True:  # serve logs (stderr) where it listens
                line = (await proc.stderr.readline()).decode()
                if not line:
                    raise RuntimeError(f"serve exited before listening: {''.join(seen)}")
                seen.append(line)
                if m := LISTENING.search(line):
                    break
        sp = cls(proc, int(m.group(1)), aiohttp.ClientSession(), stderr=seen)
        sp._drain = asyncio.create_task(sp._read_stderr())
        return sp

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr.append(line.decode())

    async def event(self, event: dict[str, Any], retry_num: int = 0) -> int:
        self._n += 1
        body = json.dumps({"token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback",
                           "event_id": f"Ev{event['ts']}", "event_time": 1700000000, "event": event})
        headers = {"Content-Type": "application/json", **sign(body)}
        if retry_num:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        async with self.session.post(f"http://127.0.0.1:{self.port}/slack/events", data=body.encode(),
                                     headers=headers) as resp:
            await resp.read()
            return resp.status

    async def kill(self) -> None:
        """kill -9: no shutdown, no lease released."""
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self.close()

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            code = await self.proc.wait()
        await self.close()
        return code

    async def close(self) -> None:
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
        await self.session.close()
