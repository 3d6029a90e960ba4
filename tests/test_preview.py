"""`run --format slack` prints the reply's Block Kit payload; `preview` renders it as a page that a real
browser (Debian's headless chromium) shows with its text and buttons."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.cli import main
from bot.contract import Alert
from bot.engine import run_triage
from bot.escalation import report_teams
from bot.providers.offline import OfflineProvider
from bot.slack.blocks import report_payload
from bot.topology import load_topology
from tests.conftest import ROOT

LOG = ROOT / "examples/logs/orders_daily/2026-11-20T02-00-00.log"
RUN = ["--log", str(LOG), "--log-root", str(ROOT / "examples/logs"), "--topology", str(ROOT / "topology.toml")]


class Page(HTMLParser):
    """Buttons, tags and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.buttons: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._in_button = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "button":
            self._in_button = True
            self.buttons.append("")
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._in_button:
            self.buttons[-1] += data


def parse(html_text: str) -> Page:
    page = Page()
    page.feed(html_text)
    return page


def _without_timings(payload: dict) -> list[dict]:
    return [b for b in payload["blocks"] if b["type"] != "context"]


async def test_run_format_slack_prints_the_block_kit_payload_the_bot_posts(capsys):
    assert await _cli(["run", *RUN, "--format", "slack"]) == 0
    printed = json.loads(capsys.readouterr().out)
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(ROOT / "examples/logs")})
    report = await run_triage(topo, Alert(job="orders_daily", source="cli"), provider=OfflineProvider(),
                              log_path=str(LOG))
    expected = report_payload(report, report_teams(topo, report))
    assert printed["text"] == expected["text"]
    assert _without_timings(printed) == _without_timings(expected)  # same blocks; only stage timings differ
    actions = next(b for b in printed["blocks"] if b["type"] == "actions")
    assert actions["elements"][0]["text"]["text"] == "Escalate to Data Engineering"


async def _cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)


def test_preview_writes_a_self_contained_page_with_every_state(tmp_path, capsys):
    out = tmp_path / "reply.html"
    assert main(["preview", *RUN, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    page = parse(text)
    visible = " ".join(" ".join(page.text).split())
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags  # nothing fetched
    assert "orders_daily: DATA problem" in visible and "Root cause" in visible and "Recommended action" in visible
    assert "Evidence" in visible and "KeyError: 'customer_id'" in visible
    assert "classify ✓ · investigate … · recommend" in visible  # the progress state
    assert "Escalated to Data Engineering by @U0ONCALL" in visible  # the state after the click
    assert page.buttons.count("Escalate to Data Engineering") == 1  # shown on the report, gone after the click
    assert page.buttons.count("Wrong diagnosis") == 2 and page.buttons.count("Resolved") == 2


def test_preview_keeps_log_text_inert(tmp_path):
    logs = tmp_path / "logs" / "evil_job"
    logs.mkdir(parents=True)
    (logs / "run.log").write_text("Traceback (most recent call last):\n"
                                  "KeyError: '<script>alert(1)</script> <img src=x onerror=alert(2)> <!channel>'\n")
    out = tmp_path / "reply.html"
    assert main(["preview", "--log", str(logs / "run.log"), "--log-root", str(tmp_path / "logs"),
                 "--topology", str(ROOT / "topology.toml"), "--out", str(out), "--state", "report"]) == 0
    page = parse(out.read_text())
    assert "script" not in page.tags and "img" not in page.tags
    assert "<script>alert(1)</script>" in " ".join(page.text)  # shown as text


def test_preview_unwritable_out_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["preview", *RUN, "--out", str(tmp_path / "missing-dir" / "reply.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium); .ci/run installs it")
def test_preview_renders_in_headless_chromium_with_text_and_buttons(tmp_path):
    out = tmp_path / "reply.html"
    assert main(["preview", *RUN, "--out", str(out), "--state", "report"]) == 0
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=860,1100"]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = parse(dom.stdout)
    assert page.buttons[:1] == ["Escalate to Data Engineering"] and "Wrong diagnosis" in page.buttons
    assert "Column customer_id is missing" in " ".join(page.text)
    png = tmp_path / "reply.png"
    shot = subprocess.run([*flags, f"--screenshot={png}", out.as_uri()], capture_output=True, text=True, timeout=120,
                          env=env)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (860, 1100)
    assert len(data) > 20_000  # a rendered page, not a blank one (a blank 860×1100 PNG is a few KB)


def test_readme_shows_rendered_replies_for_data_infra_and_code():
    readme = (ROOT / "README.md").read_text()
    for name in ("reply-data.png", "reply-infra.png", "reply-code.png"):
        assert f"docs/img/{name}" in readme
        assert Path(ROOT / "docs/img" / name).read_bytes()[:4] == b"\x89PNG"
