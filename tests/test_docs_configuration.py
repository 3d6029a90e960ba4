"""docs/configuration.md lists every environment variable the code reads and every flag of `serve`."""

from __future__ import annotations

import re

from bot.cli import _parser
from bot.settings import Settings
from tests.conftest import ROOT

DOC = (ROOT / "docs/configuration.md").read_text()


def test_every_environment_variable_read_is_documented_with_a_default():
    sources = (ROOT / "bot/settings.py").read_text() + (ROOT / "bot/sandbox/worker.py").read_text()
    names = set(re.findall(r'env\.get\("([A-Z_]+)"', sources)) | set(re.findall(r'"(ETL_TRIAGE_[A-Z_]+)"', sources))
    assert len(names) >= 14
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z_]+)` \| ([^|]+) \|", DOC, re.M)}
    assert names <= rows.keys(), sorted(names - rows.keys())
    assert all(default.strip() for default in rows.values())


def test_every_serve_flag_is_documented():
    serve = _parser(Settings())._subparsers._group_actions[0].choices["serve"]  # argparse keeps no public map
    flags = {s for a in serve._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    missing = {f for f in flags if f"`{f}" not in DOC}
    assert not missing, sorted(missing)
