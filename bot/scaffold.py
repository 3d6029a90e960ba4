"""`etl-triage init [DIR]`: a commented topology.toml and the prompts/ it names, so a jobs repo starts from a
pipeline that already validates instead of a blank file."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.errors import BotError
from bot.packaged import ASSETS, PROMPTS

TEMPLATE = ASSETS / "init" / "topology.toml"


def planned(dest: Path) -> list[tuple[Path, Path]]:
    """(source, target) for every file init writes."""
    files = [(TEMPLATE, dest / "topology.toml")]
    files += [(p, dest / "prompts" / p.name) for p in sorted(PROMPTS.glob("*.md"))]
    return files


def init(dest: Path, force: bool = False) -> list[Path]:
    """Write the scaffold into `dest`; refuses to overwrite any file unless `force`. Returns what was written."""
    files = planned(dest)
    if not force and (existing := [str(t) for _, t in files if t.exists()]):
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        verb = "exists" if len(existing) == 1 else "exist"
        raise BotError(f"{shown} already {verb}; nothing was written. Pass --force to overwrite them, "
                       "or choose another directory")
    if dest.exists() and not dest.is_dir():
        raise BotError(f"{dest} is not a directory; pass a directory to scaffold into")
    for src, target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return [t for _, t in files]


def next_steps(dest: Path) -> str:
    topo = dest / "topology.toml"
    return "\n".join([
        "Next:",
        f"  1. Edit {topo}: set [vars] log_root (and data_root, repo_root) to your hosts' paths, register the",
        "     jobs that need facts under [jobs.<name>], and fill in the [escalation.*] channels.",
        f"  2. Check it: etl-triage validate {topo}   (add it to pre-commit or CI: see the README)",
        f"  3. Triage a real failure: etl-triage run --topology {topo} --log /path/to/failed-run.log",
        "     then put the bot in Slack: etl-triage serve (docs/slack.md).",
    ])
