"""The Slack bench still runs end to end: a bench that times out prints no figure at all.

Figures are not asserted (speed lives in the benches); what is asserted is that every alert of the run was
answered once, and that a storm of one job's alerts joined one incident instead of twenty triages.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_slack_answers_every_alert_and_groups_the_storm():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_slack.py"), "--n", "3", "--storm", "8",
                        "--window", "0.5", "--post-interval", "0.02", "--update-interval", "0.02"],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "alert → final report: median" in p.stdout and "n=3" in p.stdout
    assert "answered 8/8 (7 joined an open incident), lost 0, duplicates 0" in p.stdout, p.stdout
