"""Paths the agent names, checked, and the workspace directory reached through them without a symlink.

`split_path` validates an agent-given path; `WorkspaceDir` does every fd-based operation through the
kernel's SafeDir and turns what SafeDir refuses into WorkspaceError with the workspace's messages. The
editable globs themselves live in autolab_mcp.core.editable (the one glob engine).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from autolab_mcp.core.editable import EditablePolicy
from autolab_mcp.core.safedir import FileTooLarge, SafeDir, UnsafeEntry, kind_of, list_entries
from autolab_mcp.workspace.models import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_PATH_CHARS,
    MAX_WALK_ENTRIES,
    FileType,
    Original,
    TooBig,
    WorkspaceError,
)


def display(name: str) -> str:
    """File names may hold undecodable bytes (surrogateescape); show them escaped, never raw."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def split_path(path: str, *, allow_root: bool = False) -> list[str]:
    """Validate an agent-given relative path and return its components ('.' and '' dropped)."""
    if not isinstance(path, str):
        raise WorkspaceError(f"path must be a string, got {type(path).__name__}")
    if len(path) > MAX_PATH_CHARS:
        raise WorkspaceError(f"path is {len(path)} characters long; at most {MAX_PATH_CHARS} are allowed")
    if "\x00" in path:
        raise WorkspaceError("path contains a NUL byte")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise WorkspaceError(f"path {path!r} contains control characters")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise WorkspaceError(f"path {path!r} is not valid Unicode") from None
    if path.startswith("/"):
        raise WorkspaceError(f"absolute path {path!r} refused: use a path relative to the workspace root")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise WorkspaceError(f"path {path!r} contains '..': paths must stay inside the workspace")
    if any(len(p.encode("utf-8")) > 255 for p in parts):
        raise WorkspaceError(f"path {path[:80]!r}... has a component longer than 255 bytes")
    if not parts and not allow_root:
        raise WorkspaceError("empty path: name a file relative to the workspace root, e.g. 'solve.py'")
    return parts


def check_editable(policy: EditablePolicy, parts: list[str]) -> str:
    """The path as text when the editable globs cover it; WorkspaceError naming the globs otherwise."""
    rel = "/".join(parts)
    if not policy.match_parts(parts):
        raise WorkspaceError(
            f"{rel} is not editable; only files matching these globs may be changed: "
            f"{', '.join(policy.globs)}"
        )
    return rel


def refuse_kind(rel: str, kind: FileType) -> WorkspaceError:
    if kind == "symlink":
        return WorkspaceError(f"{rel} is a symlink; symlinks are never followed, only regular files are used")
    if kind == "dir":
        return WorkspaceError(f"{rel} is a directory, not a file")
    return WorkspaceError(f"{rel} is not a regular file (fifo, socket or device); only regular files are used")


def refusal(exc: UnsafeEntry) -> WorkspaceError:
    """The workspace's message for what SafeDir refused."""
    if exc.raced:
        if exc.kind == "symlink":
            return WorkspaceError(f"{exc.rel} is a symlink; symlinks are never followed")
        return WorkspaceError(f"{exc.rel} changed while being opened; try again")
    if exc.wanted == "dir" and exc.kind == "file":
        return WorkspaceError(f"{exc.rel} is a file, not a directory")
    return refuse_kind(exc.rel, exc.kind)


@contextlib.contextmanager
def refusing() -> Iterator[None]:
    """SafeDir's refusals as WorkspaceError; OSError passes (the caller decides what it means)."""
    try:
        yield
    except UnsafeEntry as exc:
        raise refusal(exc) from None


@contextlib.contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Turn OS errors (and SafeDir's refusals) into WorkspaceError naming the path: one error type."""
    try:
        with refusing():
            yield
    except OSError as exc:
        raise WorkspaceError(f"{what}: {exc.strerror or exc}") from None


class WorkspaceDir:
    """The workspace root, every operation walked from it with O_NOFOLLOW (autolab_mcp.core.safedir)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.safe = SafeDir(root)

    def open_dir(self, parts: list[str], created: list[list[str]] | None = None) -> int:
        """fd of the directory at `parts`; creates missing dirs if `created` is a list (and records them
        there). FileNotFoundError when absent and not creating."""
        with refusing():
            return self.safe.open_dir(parts, create=created is not None, created=created)

    def open_regular(self, parts: list[str]) -> int:
        """Open a regular file for reading without following symlinks or blocking on a fifo
        (FileNotFoundError when absent)."""
        with refusing():
            return self.safe.open_read(parts)

    def lstat(self, parts: list[str]) -> os.stat_result:
        with refusing():
            return self.safe.lstat(parts)

    def read_existing(self, parts: list[str], cap: int = MAX_FILE_BYTES) -> Original:
        """(content, permission bits) of the regular file at `parts`, None if absent."""
        rel = "/".join(parts)
        with os_errors(rel):
            try:
                data, st = self.safe.read(parts, cap)
            except FileNotFoundError:
                return None
            except FileTooLarge as exc:
                if exc.size is not None:
                    raise TooBig(f"{rel} is {exc.size} bytes; the limit is {cap}") from None
                raise TooBig(f"{rel} is larger than the limit of {cap} bytes") from None
        return data, stat.S_IMODE(st.st_mode) & 0o777

    def write_bytes(self, parts: list[str], data: bytes, created: list[list[str]], mode: int | None = None) -> None:
        """Atomically replace (or create) a regular file; refuses to replace anything else."""
        with os_errors("/".join(parts)):
            self.safe.write(parts, data, mode=mode, create=True, created=created)

    def unlink(self, parts: list[str]) -> None:
        """Remove a non-directory entry (unlink never follows symlinks)."""
        with os_errors("/".join(parts)):
            self.safe.unlink(parts)

    def rmdir(self, parts: list[str]) -> None:
        with refusing():
            self.safe.rmdir(parts)

    def walk(
        self, start: list[str], descend: Callable[[list[str]], bool], cut: list[str] | None = None
    ) -> Iterator[tuple[list[str], FileType, int | None]]:
        """Breadth-first (parts, type, size) below `start`; never follows symlinks.

        Bounded in depth and entries (an experiment can build any tree); where it stops
        short, it says so in `cut`, so a snapshot is never silently partial."""
        queue: deque[list[str]] = deque([start])
        seen = 0
        while queue:
            dparts = queue.popleft()
            try:
                fd = self.open_dir(dparts)
            except (OSError, WorkspaceError):
                continue  # vanished or swapped for something else since it was listed
            try:
                entries = [(name, kind_of(st.st_mode), st) for name, st in list_entries(fd)]
            finally:
                os.close(fd)
            for name, kind, st in sorted(entries, key=lambda e: e[:2]):
                seen += 1
                if seen > MAX_WALK_ENTRIES:
                    if cut is not None:
                        cut.append(f"(stopped after {MAX_WALK_ENTRIES} entries; the rest was not looked at)")
                    return
                parts = [*dparts, name]
                yield parts, kind, st.st_size if kind == "file" else None
                if kind == "dir" and descend(parts):
                    if len(parts) < MAX_DEPTH:
                        queue.append(parts)
                    elif cut is not None:
                        cut.append(f"{'/'.join(map(display, parts))} (deeper than {MAX_DEPTH} levels)")

    def resolve(self, path: str) -> Path:
        """Host path for `path` after checking it: confined, and no symlink on the way (lstat walk).

        Only for callers that need a host path; file operations here use fd walks instead,
        which also hold when an experiment swaps a directory for a symlink concurrently.
        """
        parts = split_path(path, allow_root=True)
        cur = self.root
        for k, name in enumerate(parts):
            cur = cur / name
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                break
            except OSError as exc:
                raise WorkspaceError(f"{'/'.join(parts[: k + 1])}: {exc.strerror}") from None
            rel = "/".join(parts[: k + 1])
            if k < len(parts) - 1 and stat.S_ISREG(st.st_mode):
                raise WorkspaceError(f"{rel} is a file, not a directory")
            if stat.S_ISLNK(st.st_mode) or (k < len(parts) - 1 and not stat.S_ISDIR(st.st_mode)):
                raise refuse_kind(rel, kind_of(st.st_mode))
        return self.root.joinpath(*parts)
