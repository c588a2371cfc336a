"""Helpers every sandbox backend shares: mount-target checks, symlink-free opens, output tails, disk use."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from autolab_mcp.sandbox.base import SandboxError

#: How often a running sandbox's writable mounts are measured against limits.disk_mb.
DISK_CHECK_SEC = 2.0


def check_target(target: str) -> None:
    if not target.startswith("/") or posixpath.normpath(target) != target or target == "/":
        raise SandboxError(f"mount target must be a normalized absolute path other than /: {target!r}")


def open_no_symlinks(root: Path, rel: str) -> int | None:
    """An O_PATH fd for root/rel if it is a regular file reached without any symlink, else None.

    Binding the fd (not the path) means a file swapped for a symlink after this check still
    cannot redirect the bind to something outside the workspace.
    """
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or rel.startswith("/"):
        return None
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        cur = os.open(root, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=cur)
            os.close(cur)
            cur = nxt
        fd = os.open(parts[-1], flags, dir_fd=cur)
    except OSError:
        return None
    finally:
        os.close(cur)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def tail_text(buf: bytes | bytearray, max_bytes: int) -> str:
    chunk = bytes(buf[-max_bytes:]) if max_bytes > 0 else b""
    if len(chunk) < len(buf):  # cut may fall inside a UTF-8 sequence: skip its continuation bytes
        i = 0
        while i < min(3, len(chunk)) and chunk[i] & 0xC0 == 0x80:
            i += 1
        chunk = chunk[i:]
    return chunk.decode("utf-8", errors="replace")


def usage_exceeds(roots: list[Path], limit: int) -> bool:
    """True once the files under `roots` add up to more than `limit` bytes (stops counting there)."""
    total = 0
    stack = [str(r) for r in roots]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
                if total > limit:
                    return True
    return False
