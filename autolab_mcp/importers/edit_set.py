"""The edit set an AutoLab instruction states in prose, as our `[autolab] editable` globs.

AutoLab says it two ways: a sentence ("Edit only `solve.py`.", "Edit only `/app/a.c` and `/app/b.h`")
and a table row whose first cell is **Edit** ("| **Edit** | `/app/solve.c` |"). Paths under the
task's workdir become workspace-relative; a path elsewhere (a `/data` file) is not ours to hand out and
is reported instead. Nothing found means nothing editable: the importer then refuses to finish
without `--editable`, since guessing could hand the agent the checker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_SENTENCE = re.compile(r"\bedit\s+only\s+((?:`[^`]+`(?:\s*(?:,|and|or|,\s*and)\s*)?)+)", re.IGNORECASE)
_TABLE_ROW = re.compile(r"^\s*\|\s*\*\*edit(?:able)?\*\*\s*\|(.*)$", re.IGNORECASE | re.MULTILINE)
_CODE = re.compile(r"`([^`]+)`")


@dataclass
class EditSet:
    globs: list[str] = field(default_factory=list)
    #: paths the instruction names that lie outside the workdir (never made editable)
    outside: list[str] = field(default_factory=list)


def _relative(path: str, workdir: str) -> str | None:
    pure = PurePosixPath(path.strip())
    if not pure.is_absolute():
        parts = pure.parts
    else:
        try:
            parts = pure.relative_to(PurePosixPath(workdir)).parts
        except ValueError:
            return None
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def infer_edit_set(instruction: str, workdir: str = "/app") -> EditSet:
    """The editable files the instruction states, relative to `workdir`, in the order first named."""
    named: list[str] = []
    for match in _SENTENCE.finditer(instruction):
        named += _CODE.findall(match[1])
    for match in _TABLE_ROW.finditer(instruction):
        named += _CODE.findall(match[1])
    found = EditSet()
    for path in dict.fromkeys(named):
        relative = _relative(path, workdir)
        if relative is None:
            found.outside.append(path)
        elif relative not in found.globs:
            found.globs.append(relative)
    return found
