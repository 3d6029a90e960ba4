"""The read allowlist: globs → rules, path checks that resolve before matching, and the verified open.

Pure stdlib: the restricted worker process imports this module too.
"""

from __future__ import annotations

import errno
import os
import re
import stat

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
_GLOB_CHARS = re.compile(r"[*?\[]")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class Denied(Exception):
    """A refused path; `reason` is one line, never content of the file."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Rule:
    """Everything beneath `root` (pattern None), or the real paths beneath `root` that fullmatch `pattern`;
    `exact`: only the file `root` itself."""

    __slots__ = ("exact", "glob", "pattern", "root")

    def __init__(self, glob: str, root: str, pattern: re.Pattern[str] | None = None, exact: bool = False) -> None:
        self.glob, self.root, self.pattern, self.exact = glob, root, pattern, exact

    def allows_file(self, real: str) -> bool:
        if self.exact:
            return real == self.root
        if not _beneath(real, self.root):
            return False
        return self.pattern is None or self.pattern.fullmatch(real) is not None

    def allows_dir(self, real: str) -> bool:
        return not self.exact and (real == self.root or _beneath(real, self.root))


class Checked:
    """A path that passed the checks: its real path and the identity of what was there."""

    __slots__ = ("dev", "ino", "real")

    def __init__(self, real: str, dev: int, ino: int) -> None:
        self.real, self.dev, self.ino = real, dev, ino


def _beneath(real: str, root: str) -> bool:
    if root == "/":
        return real.startswith("/")
    return real.startswith(root + "/")


def translate_glob(glob: str) -> str:
    """Glob → regex: `**` crosses directories, `*` and `?` do not cross `/`."""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (j := glob.find("]", i + 2)) != -1:
            body = glob[i + 1:j]
            neg = body[:1] in ("!", "^")
            body = body[1:] if neg else body
            out.append("[" + ("^/" if neg else "") + body.replace("\\", "\\\\").replace("/", "") + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def fixed_root(glob: str) -> str:
    """The real directory a glob's fixed (glob-free) prefix names: `.`, `..` and symlinks resolved, so
    `/./**`, `/../**`, `/[a-z]*/**` and `{log_root}/../../../**` all show that they start at `/`."""
    parts = glob.split("/")
    first = next((k for k, p in enumerate(parts) if _GLOB_CHARS.search(p)), None)
    prefix = glob if first is None else ("/".join(parts[:first]) or "/")
    return os.path.realpath(prefix)


def compile_rule(glob: str) -> Rule:
    """One allowlist entry. Its non-glob prefix is resolved (symlinks included) so real paths match it.
    A glob whose prefix is the filesystem root is refused however it is spelled."""
    if not glob or not os.path.isabs(glob):
        raise ValueError(f"read glob {glob!r} must be an absolute path")
    if fixed_root(glob) == "/":
        raise ValueError(f"read glob {glob!r} would allow the whole filesystem (its fixed prefix is /)")
    parts = glob.split("/")
    first = next((k for k, p in enumerate(parts) if _GLOB_CHARS.search(p)), None)
    if first is None:
        root = os.path.realpath(glob)
        return Rule(glob, root, exact=not glob.endswith("/") and os.path.isfile(root))
    prefix = "/".join(parts[:first]) or "/"
    root = os.path.realpath(prefix)
    rest = "/".join(parts[first:])
    if rest == "**":
        return Rule(glob, root)
    base = re.escape(root.rstrip("/")) + "/"
    return Rule(glob, root, re.compile(base + translate_glob(rest), re.DOTALL))


class Policy:
    """A stage's allowlist. `check_file` / `check_dir` raise Denied with the reason."""

    def __init__(self, globs: list[str], allow_hardlinks: bool = False) -> None:
        self.globs = list(globs)
        self.rules = [compile_rule(g) for g in globs]
        self.allow_hardlinks = allow_hardlinks

    @property
    def roots(self) -> list[str]:
        """The resolved non-glob prefixes: what the kernel sandbox allows reading beneath."""
        return sorted({r.root for r in self.rules})

    def check_file(self, path: object) -> Checked:
        real = self._resolve(path)
        if not any(r.allows_file(real) for r in self.rules):
            raise Denied("outside the read allowlist")
        st = _stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise Denied(f"not a regular file ({_kind(st.st_mode)})")
        if st.st_nlink > 1 and not self.allow_hardlinks:
            raise Denied(hardlink_reason(st.st_nlink))
        return Checked(real, st.st_dev, st.st_ino)

    def check_dir(self, path: object) -> Checked:
        real = self._resolve(path)
        if not any(r.allows_dir(real) for r in self.rules):
            raise Denied("outside the read allowlist")
        st = _stat(real)
        if not stat.S_ISDIR(st.st_mode):
            raise Denied(f"not a directory ({_kind(st.st_mode)})")
        return Checked(real, st.st_dev, st.st_ino)

    def allows_entry(self, real: str, is_dir: bool) -> bool:
        rules = self.rules
        return any(r.allows_dir(real) if is_dir else r.allows_file(real) for r in rules)

    @staticmethod
    def _resolve(path: object) -> str:
        if not isinstance(path, (str, os.PathLike)):
            raise Denied(f"not a path ({type(path).__name__})")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise Denied("not a text path")
        if "\x00" in text:
            raise Denied("path contains a NUL byte")
        try:
            raw = os.fsencode(text)
        except UnicodeEncodeError:
            raise Denied("path is not encodable") from None
        if len(raw) > MAX_PATH_BYTES or any(len(p) > MAX_NAME_BYTES for p in raw.split(b"/")):
            raise Denied("path too long")
        if not text:
            raise Denied("empty path")
        try:
            return os.path.realpath(text)
        except (OSError, ValueError):
            raise Denied("path cannot be resolved") from None


def hardlink_reason(links: int) -> str:
    return (f"a hard link ({links} names for one file; another name may be outside the allowlist); "
            "set [pipeline] allow_hardlinks = true in the topology to read hard-linked logs")


def _stat(real: str) -> os.stat_result:
    try:
        return os.stat(real)
    except FileNotFoundError:
        raise Denied("no such file or directory") from None
    except OSError as e:
        raise Denied(f"cannot stat: {e.strerror}") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def open_verified(real: str, dev: int, ino: int, directory: bool = False, hardlinks: bool = False) -> int:
    """Open what was checked, without following a swapped-in symlink or blocking on a FIFO, then confirm
    through the descriptor (fstat identity + /proc/self/fd path) that it is what was allowed."""
    flags = _OPEN_FLAGS | (os.O_DIRECTORY if directory else 0)
    try:
        fd = os.open(real, flags)
    except OSError as e:
        raise Denied(_open_reason(e)) from None
    try:
        st = os.fstat(fd)
        ok_type = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
        if not ok_type:
            raise Denied(f"changed between check and open: now {_kind(st.st_mode)}")
        if not directory and st.st_nlink > 1 and not hardlinks:
            raise Denied("changed between check and open: now " + hardlink_reason(st.st_nlink))
        if (st.st_dev, st.st_ino) != (dev, ino):
            raise Denied("changed between check and open: a different file is there now")
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            opened = real  # no /proc: the fstat identity check above stands alone
        if opened != real:
            raise Denied("changed between check and open: opened through a different path")
        if not directory:
            os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_reason(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "changed between check and open: now a symlink"
    if e.errno == errno.ENOENT:
        return "no such file or directory"
    if e.errno == errno.EACCES:
        return "permission denied by the kernel sandbox or the file mode (EACCES)"
    if e.errno == errno.ENOTDIR:
        return "not a directory"
    return f"cannot open: {e.strerror}"
