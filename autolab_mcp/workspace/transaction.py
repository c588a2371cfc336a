"""All-or-nothing changes to several workspace files, rolled back on the first failure."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Protocol

from autolab_mcp.workspace.models import Original, WorkspaceError

#: path -> (new content, or None to delete; the file as it was before)
Changes = Mapping[str, tuple[bytes | None, Original]]


class WriteFile(Protocol):
    def __call__(self, parts: list[str], data: bytes, created: list[list[str]], mode: int | None = None) -> None:
        """Atomically write `data` at `parts` (mode: kept or 0644 when None), creating the directories on the
        way and appending each one it made to `created`."""


class Transaction:
    """Applies a set of changes in order through the workspace's own write, unlink and rmdir (so what they
    refuse is refused here too). When one fails, each change already made is undone, in reverse (the old
    content and mode put back, a created file removed), the directories made on the way are removed, and
    WorkspaceError says that nothing was changed."""

    def __init__(self, write: WriteFile, unlink: Callable[[list[str]], None],
                 rmdir: Callable[[list[str]], None]) -> None:
        self._write = write
        self._unlink = unlink
        self._rmdir = rmdir

    def commit(self, changes: Changes) -> None:
        done: list[str] = []
        created: list[list[str]] = []
        try:
            for rel, (data, _old) in changes.items():
                parts = rel.split("/")
                if data is None:
                    self._unlink(parts)
                else:
                    self._write(parts, data, created)
                done.append(rel)
        except (OSError, WorkspaceError) as exc:
            self._roll_back(changes, done, created)
            raise WorkspaceError(f"{exc}; nothing was changed (the files already written were rolled back)") from None

    def _roll_back(self, changes: Changes, done: list[str], created: list[list[str]]) -> None:
        for rel in reversed(done):
            old = changes[rel][1]
            with contextlib.suppress(OSError, WorkspaceError):
                if old is None:
                    self._unlink(rel.split("/"))
                else:
                    self._write(rel.split("/"), old[0], [], mode=old[1])
        for dparts in reversed(created):
            with contextlib.suppress(OSError, WorkspaceError):
                self._rmdir(dparts)
