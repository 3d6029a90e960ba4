"""Run one program under Landlock: a tiny launcher that restricts itself, then execs the program.

    python -I -S -c <boot> <package parent> <read root>… -- /abs/program args…

The program may read (never write) beneath the read roots, read and execute beneath the system
directories a dynamically linked binary needs (SYSTEM_EXEC: binaries, shared libraries, locale data),
read the loader cache, and open /dev/null; nothing else (no /etc, no $HOME, no TCP). Measured for git
with strace: ld.so.cache, its libraries under /usr/lib, and /dev/null opened O_RDWR at start-up.
Used for `git log` (bot/evidence/deploys.py), which otherwise runs as a plain child of the bot.
Pure stdlib and no json/re (each run pays the interpreter start-up; see bench/bench_git_sandbox.py); an
exec error or a refused ruleset exits 126 with one line on stderr.
"""

from __future__ import annotations

import os
import sys

SYSTEM_EXEC = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
SYSTEM_READ = ("/etc/ld.so.cache",)
DEV_RW = ("/dev/null",)
EXIT_REFUSED = 126
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from bot.sandbox.landlock_exec import main; "
         "main(sys.argv[2:])")


def launcher_argv(argv: list[str], read_roots: list[str]) -> list[str]:
    """`argv` (argv[0] an absolute path) wrapped in the launcher, restricted to read beneath `read_roots`."""
    if not os.path.isabs(argv[0]):
        raise ValueError(f"the program to confine must be an absolute path, not {argv[0]!r}")
    parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    roots = sorted(set(read_roots))
    if not all(os.path.isabs(r) for r in roots):
        raise ValueError(f"read roots must be absolute paths: {roots}")
    return [sys.executable, "-I", "-S", "-c", _BOOT, parent, *roots, "--", *argv]


def main(args: list[str]) -> None:
    """Launcher entry point: args = [root, …, "--", program, …]."""
    from bot.sandbox import landlock

    if "--" not in args or args.index("--") == len(args) - 1:
        sys.stderr.write("landlock_exec: usage: <read root>… -- /abs/program [args…]\n")
        os._exit(EXIT_REFUSED)
    cut = args.index("--")
    roots, argv = args[:cut], args[cut + 1:]
    program = os.path.realpath(argv[0])
    try:
        landlock.restrict_self(list(roots), exec_roots=(*SYSTEM_EXEC, program), read_files=SYSTEM_READ,
                               rw_files=DEV_RW)
    except OSError as e:
        sys.stderr.write(f"landlock: could not restrict {argv[0]}: {e}\n")
        os._exit(EXIT_REFUSED)
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"landlock: could not run {argv[0]}: {e.strerror}\n")
        os._exit(EXIT_REFUSED)
