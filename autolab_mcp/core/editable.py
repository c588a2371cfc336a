"""Editable-set globs: `*` stays inside one path segment, `**` spans directories."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path


@functools.lru_cache(maxsize=256)
def _compile(glob: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            parts.append("(?:[^/]+/)*")
            index += 3
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif glob[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def matches(path: str, globs: list[str] | tuple[str, ...]) -> bool:
    """True when the workspace-relative POSIX `path` matches any glob."""
    return any(_compile(glob).match(path) for glob in globs)


def editable_files(root: Path, editable: list[str]) -> list[str]:
    """Workspace-relative regular files under root that match the editable globs."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and matches(rel, editable):
                found.append(rel)
    return sorted(found)
