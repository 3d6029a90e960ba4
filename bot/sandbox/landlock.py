"""Landlock through ctypes: restrict the calling process to read-only access beneath given paths.

ctypes, not a PyPI binding: three syscalls and two structs, stable kernel ABI, no dependency to track.
Syscall numbers 444-446 are the same on x86_64 and aarch64 (the generic syscall table).
Pure stdlib: the worker calls `restrict_self` before it touches any requested file.
"""

from __future__ import annotations

import ctypes
import os
import stat

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}   # REFER (ABI 2), TRUNCATE (3), IOCTL_DEV (5)
ACCESS_NET_BIND_TCP, ACCESS_NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class LandlockError(OSError):
    """Landlock is missing or refused the ruleset; the message says which."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> tuple[int, str]:
    """(ABI version, "") when Landlock is usable, else (0, why not)."""
    uname = os.uname()           # not `platform`: it costs the launcher ~10 ms of imports per git run
    if uname.sysname != "Linux":
        return 0, f"Landlock is Linux-only (this is {uname.sysname})"
    if uname.machine not in ("x86_64", "aarch64", "arm64", "riscv64"):
        return 0, f"no Landlock syscall numbers known for {uname.machine}"
    try:
        libc = _libc()
    except OSError as e:
        return 0, f"cannot load libc: {e}"
    v = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    if v < 0:
        err = ctypes.get_errno()
        why = {38: "the kernel has no Landlock (ENOSYS)",
               95: "Landlock is disabled at boot (EOPNOTSUPP; add landlock to lsm=)"}.get(err, os.strerror(err))
        return 0, why
    return int(v), ""


def handled_fs(abi: int) -> int:
    return (1 << _FS_BITS_BY_ABI.get(abi, 16)) - 1


def restrict_self(read_roots: list[str], abi: int | None = None, exec_roots: tuple[str, ...] = (),
                  read_files: tuple[str, ...] = (), rw_files: tuple[str, ...] = ()) -> int:
    """From now on this process (and its children) may only read files and list directories beneath
    `read_roots`; writing, executing and creating anything is denied everywhere, and with ABI >= 4 so is
    TCP. `exec_roots` may also be executed beneath (system binaries and libraries for a launched program),
    `read_files` are single readable files and `rw_files` single read-write files (/dev/null).
    Roots that do not exist are skipped. Returns the ABI used. Raises LandlockError."""
    if abi is None:
        abi, why = abi_version()
        if not abi:
            raise LandlockError(why)
    libc = _libc()
    attr = _RulesetAttr(handled_access_fs=handled_fs(abi))
    size = 8
    if abi >= 4:
        attr.handled_access_net = ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    rs = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if rs < 0:
        raise LandlockError(f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}")
    try:
        read = ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR
        rules = [(r, read) for r in read_roots] + [(r, read | ACCESS_FS_EXECUTE) for r in exec_roots]
        rules += [(r, ACCESS_FS_READ_FILE) for r in read_files]
        rules += [(r, ACCESS_FS_READ_FILE | ACCESS_FS_WRITE_FILE) for r in rw_files]
        for root, access in rules:
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= ~ACCESS_FS_READ_DIR       # directory rights on a file are EINVAL
                rule = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
                if libc.syscall(SYS_ADD_RULE, ctypes.c_int(rs), ctypes.c_int(RULE_PATH_BENEATH),
                                ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise LandlockError(f"landlock_add_rule({root}) failed: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(rs), ctypes.c_uint32(0)) < 0:
            raise LandlockError(f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(rs)
    return abi
