"""`recent_deploys`: commits in the job's repo that touched its code shortly before the failure.

Read-only `git log` through an asyncio subprocess: argv list (no shell), a timeout, a hardened environment
(no system or global config, no pager, no external diff or textconv, no prompts). The repository is
checked through the stage's Sandbox before git runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import AccessDenied
from bot.investigate.when import ago, iso
from bot.sandbox import Sandbox

DEFAULT_WINDOW_H = 72.0
GIT_TIMEOUT_S = 10.0
MAX_COMMITS = 20
_SEP, _END = "\x1f", "\x1e"


@dataclass
class Commit:
    sha: str
    author: str
    time: datetime                          # commit (landing) time, UTC
    subject: str
    files: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)   # searched-for strings its diff added or removed

    @property
    def short(self) -> str:
        return self.sha[:7]

    def line(self, failed_at: datetime | None = None) -> str:
        before = f", {ago((failed_at - self.time).total_seconds())} before the failure" if failed_at else ""
        return f"{self.short} ({iso(self.time)}{before}) by {self.author}: \"{self.subject}\""


@dataclass
class Deploys:
    repo: str
    paths: list[str]
    since: datetime
    until: datetime
    commits: list[Commit] = field(default_factory=list)
    error: str | None = None

    def text(self) -> str:
        scope = ", ".join(self.paths) or "the whole repository"
        head = f"commits in {self.repo} touching {scope} between {iso(self.since)} and {iso(self.until)}"
        if self.error:
            return f"{head}: {self.error}"
        if not self.commits:
            return f"{head}: none"
        out = [f"{head}:"]
        for c in self.commits:
            out.append(f"- {c.line(self.until)}" + (f" [diff mentions {', '.join(c.mentions)}]" if c.mentions else ""))
            out += [f"    {f}" for f in c.files[:15]]
        return "\n".join(out)


def git_env() -> dict[str, str]:
    """A minimal environment: no user/system config, pager, editor, external diff or credential prompt."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    return {**keep, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull,
            "GIT_PAGER": "cat", "PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
            "GIT_NO_REPLACE_OBJECTS": "1"}


async def _git(repo: Path, args: list[str], limit_s: float) -> str:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed; install git to see recent deploys")
    argv = [git, "-c", f"safe.directory={repo}", "-c", "core.fsmonitor=false", "-C", str(repo), *args]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=git_env())
    try:
        async with asyncio.timeout(limit_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"git timed out after {limit_s:g}s in {repo}") from None
    if proc.returncode != 0:
        msg = err.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"git failed: {msg[-1] if msg else proc.returncode}")
    return out.decode("utf-8", "replace")


async def recent_deploys(sandbox: Sandbox, repo: str, paths: list[str], failed_at: datetime,
                         window_h: float = DEFAULT_WINDOW_H, mentions: list[str] | None = None,
                         limit_s: float = GIT_TIMEOUT_S) -> Deploys:
    """Commits touching `paths` (relative to the repo) landed in the `window_h` hours before `failed_at`."""
    until = failed_at.astimezone(UTC)
    since = until - timedelta(hours=window_h)
    res = Deploys(repo=repo, paths=list(paths), since=since, until=until)
    try:   # .git/HEAD is a regular file in every repository (.git itself is a file in a worktree)
        root = sandbox.check(Path(repo) / ".git" / "HEAD").parent.parent
    except AccessDenied:
        try:
            root = sandbox.check(Path(repo) / ".git").parent
        except AccessDenied as e:
            res.error = f"{repo} is not a readable git repository ({e.reason}); check [jobs] repo"
            return res
    bad = [p for p in paths if p.startswith("/") or ".." in Path(p).parts or p.startswith("-")]
    if bad:
        res.error = f"code path {bad[0]!r} must be relative to the repository, without '..'"
        return res
    window = [f"--since={since.isoformat()}", f"--until={until.isoformat()}"]
    scope = ["--", *paths] if paths else []
    try:
        out = await _git(root, ["log", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
                                f"--max-count={MAX_COMMITS}", *window,
                                f"--format={_END}%H{_SEP}%an{_SEP}%cI{_SEP}%s", "--name-only", *scope], limit_s)
        res.commits = _parse(out)
        for word in mentions or []:
            if res.commits and word and not word.startswith("-"):
                hits = await _git(root, ["log", "--no-color", "--no-ext-diff", "--no-textconv", f"-S{word}",
                                         f"--max-count={MAX_COMMITS}", *window, "--format=%H", *scope], limit_s)
                shas = set(hits.split())
                for c in res.commits:
                    if c.sha in shas:
                        c.mentions.append(word)
    except (RuntimeError, OSError) as e:
        res.error = str(e)
    return res


def _parse(out: str) -> list[Commit]:
    commits = []
    for block in out.split(_END):
        if not block.strip():
            continue
        head, _, rest = block.partition("\n")
        sha, author, when, subject = [*head.split(_SEP), "", "", ""][:4]
        try:
            t = datetime.fromisoformat(when).astimezone(UTC)
        except ValueError:
            continue
        commits.append(Commit(sha=sha, author=author, time=t, subject=subject,
                              files=[f for f in rest.splitlines() if f.strip()]))
    return commits
