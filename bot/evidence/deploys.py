"""`recent_deploys`: commits in the job's repo that touched its code shortly before the failure.

Read-only `git log` through an asyncio subprocess: argv list (no shell), a timeout, a hardened environment
(no system or global config, no pager, no external diff or textconv, no signature check, no prompts).
Before git runs, the repository is checked through the stage's Sandbox: `.git` must be a real directory
(a `.git` file or symlink is a `gitdir:` pointer to any repository), `objects/info/alternates` and
`commondir` must stay inside the allowlist, and the config may not `[include]` other files. git then gets
an explicit `--git-dir`/`--work-tree` and, where Landlock is available, runs under the kernel launcher
(bot/sandbox/landlock_exec.py) so it cannot read anything outside the stage's allowlist roots.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import AccessDenied
from bot.evidence.when import ago, iso
from bot.sandbox import Sandbox

DEFAULT_WINDOW_H = 72.0
GIT_TIMEOUT_S = 10.0
MAX_COMMITS = 20
MAX_ALTERNATE_DEPTH = 5                     # git follows alternates of alternates this deep
_SEP, _END = "\x1f", "\x1e"
# files that pin what a job runs: a failure right after one of them changed leans *code* (a version bump)
DEPENDENCY_GLOBS = ("requirements*.txt", "requirements/*.txt", "constraints*.txt", "*.lock", "poetry.lock",
                    "Pipfile", "Pipfile.lock", "pyproject.toml", "setup.py", "setup.cfg", "environment.yml",
                    "environment.yaml", "packages.yml", "dependencies.yml", "package-lock.json", "Dockerfile*",
                    "*.dockerfile", "docker-compose*.yml", "docker-compose*.yaml", "pom.xml", "build.gradle*",
                    "build.sbt", "go.mod", "Chart.yaml", "values*.yaml", "images.txt", "*.tf")
_INCLUDE = re.compile(rb"\[\s*include(?:if)?\b", re.IGNORECASE)   # git reads a header anywhere on a line


class UnsafeRepo(Exception):
    """The repository would make git read outside the allowlist; the message says what to fix."""


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
    pins: list[Commit] = field(default_factory=list)   # commits anywhere in the repo changing DEPENDENCY_GLOBS

    def text(self) -> str:
        scope = ", ".join(self.paths) or "the whole repository"
        head = f"commits in {self.repo} touching {scope} between {iso(self.since)} and {iso(self.until)}"
        if self.error:
            return f"{head}: {self.error}"
        pins = "".join(f"\n- pins changed: {c.line(self.until)} [{', '.join(c.files[:5])}]" for c in self.pins)
        if not self.commits:
            return f"{head}: none{pins}"
        out = [f"{head}:"]
        for c in self.commits:
            out.append(f"- {c.line(self.until)}" + (f" [diff mentions {', '.join(c.mentions)}]" if c.mentions else ""))
            out += [f"    {f}" for f in c.files[:15]]
        return "\n".join(out) + pins


def _pin_specs(paths: list[str]) -> list[str]:
    """Where the job's dependency pins live: the repository root (its image, its lockfile) and the job's own
    code paths. Another job's requirements file in a monorepo says nothing about this one; with no code paths
    configured, the whole repository is the job's."""
    dirs = {str(Path(p).parent) if Path(p).suffix else p.rstrip("/") for p in paths}   # a code file: its folder
    if not dirs or "." in dirs or "" in dirs:
        return [f":(glob)**/{g}" for g in DEPENDENCY_GLOBS]
    return [f":(glob){g}" for g in DEPENDENCY_GLOBS] + [
        f":(glob){d}/**/{g}" for d in sorted(dirs) for g in DEPENDENCY_GLOBS]


def git_env() -> dict[str, str]:
    """A minimal environment: no user/system config, pager, editor, external diff or credential prompt."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    return {**keep, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull,
            "GIT_PAGER": "cat", "PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
            "GIT_NO_REPLACE_OBJECTS": "1",
            # a repository's config must not make git fetch: a partial clone's lazy fetch of a missing object
            # would run its remote's `uploadpack` command (git >= 2.44 honours this; protocol.allow below
            # refuses every transport on older ones)
            "GIT_NO_LAZY_FETCH": "1", "GIT_PROTOCOL_FROM_USER": "0"}


def _git_argv(sandbox: Sandbox, repo: Path, args: list[str]) -> list[str]:
    """git on the checked repository only, under the kernel launcher where Landlock is available."""
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed; install git to see recent deploys")
    return sandbox.confine([os.path.realpath(git), f"--git-dir={repo / '.git'}", f"--work-tree={repo}",
                            "-c", "core.fsmonitor=false", "-c", "log.showSignature=false",
                            "-c", "protocol.allow=never", *args])


async def _git(sandbox: Sandbox, repo: Path, args: list[str], limit_s: float) -> str:
    argv = _git_argv(sandbox, repo, args)
    env = {**git_env(), "GIT_CEILING_DIRECTORIES": str(repo.parent)}
    proc = await asyncio.create_subprocess_exec(*argv, cwd=repo, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
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
    try:
        root = await _checked_repo(sandbox, repo)
    except AccessDenied as e:
        res.error = f"{repo} is not a readable git repository ({e.reason}); check [jobs] repo"
        return res
    except UnsafeRepo as e:
        res.error = f"{repo} was not read: {e}"
        return res
    bad = [p for p in paths if p.startswith("/") or ".." in Path(p).parts or p.startswith("-")]
    if bad:
        res.error = f"code path {bad[0]!r} must be relative to the repository, without '..'"
        return res
    window = [f"--since={since.isoformat()}", f"--until={until.isoformat()}"]
    scope = ["--", *paths] if paths else []
    try:
        out = await _git(sandbox, root, ["log", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
                                f"--max-count={MAX_COMMITS}", *window,
                                f"--format={_END}%H{_SEP}%an{_SEP}%cI{_SEP}%s", "--name-only", *scope], limit_s)
        res.commits = _parse(out)
        pins = await _git(sandbox, root, ["log", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
                                 f"--max-count={MAX_COMMITS}", *window, f"--format={_END}%H{_SEP}%an{_SEP}%cI{_SEP}%s",
                                 "--name-only", "--", *_pin_specs(paths)], limit_s)
        res.pins = _parse(pins)
        for word in mentions or []:
            if res.commits and word and not word.startswith("-"):
                hits = await _git(sandbox, root, ["log", "--no-color", "--no-ext-diff", "--no-textconv", f"-S{word}",
                                         f"--max-count={MAX_COMMITS}", *window, "--format=%H", *scope], limit_s)
                shas = set(hits.split())
                for c in res.commits:
                    if c.sha in shas:
                        c.mentions.append(word)
    except (RuntimeError, OSError) as e:
        res.error = str(e)
    return res


async def _checked_repo(sandbox: Sandbox, repo: str) -> Path:
    """The repository's real root, once everything git would read is shown to be inside the allowlist.
    Raises AccessDenied (not readable) or UnsafeRepo (would lead git elsewhere)."""
    root = sandbox.check_dir(repo)
    dot_git = root / ".git"
    try:
        st: os.stat_result | None = os.lstat(dot_git)
    except OSError:
        st = None                               # the HEAD check below explains it
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UnsafeRepo(".git is not a directory (a .git file or symlink can point git at any repository; "
                         "give [jobs] repo the repository's own checkout)")
    sandbox.check(dot_git / "HEAD")
    await _check_pointers(sandbox, dot_git, dot_git / "objects", 0)
    return root


async def _small(sandbox: Sandbox, path: Path) -> bytes | None:
    """A small file of the repository through the sandbox, or None when it does not exist (checked first,
    so an absent optional file is not audited as a denied read)."""
    if not _exists(path):
        return None
    try:
        return await sandbox.head_bytes(path, 65536)
    except AccessDenied as e:
        if e.reason == "no such file or directory":
            return None
        raise UnsafeRepo(f"{path} is {e.reason}") from None


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


async def _check_pointers(sandbox: Sandbox, git_dir: Path, objects: Path, depth: int) -> None:
    """commondir, [include] and objects/info/alternates (recursively, as git does) must stay inside."""
    if depth > MAX_ALTERNATE_DEPTH:
        raise UnsafeRepo("objects/info/alternates nest too deep")
    if depth == 0:
        if (data := await _small(sandbox, git_dir / "commondir")) is not None:
            target = _pointer(git_dir, data.decode("utf-8", "replace").strip(), "commondir")
            _inside(sandbox, target, f"{git_dir}/commondir")
            git_dir = target
            objects = target / "objects"
        if (data := await _small(sandbox, git_dir / "config")) is not None and _INCLUDE.search(data):
            raise UnsafeRepo(f"{git_dir}/config has an [include] or [includeIf] section, which makes git read "
                             "config from other files; remove it")
    data = await _small(sandbox, objects / "info" / "alternates")
    if data is None:
        return
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        target = _pointer(objects, line, "objects/info/alternates")
        _inside(sandbox, target, f"{objects}/info/alternates")
        await _check_pointers(sandbox, git_dir, target, depth + 1)


def _pointer(base: Path, text: str, what: str) -> Path:
    if not text or text.startswith('"') or "\x00" in text:
        raise UnsafeRepo(f"{what} holds a path this tool does not follow ({text[:80]!r})")
    return Path(os.path.realpath(base / text))


def _inside(sandbox: Sandbox, target: Path, what: str) -> None:
    try:
        sandbox.check_dir(target)
    except AccessDenied as e:
        raise UnsafeRepo(f"{what} points git at {target}, which is {e.reason}; "
                         "use a standalone clone inside the allowlist") from None


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
