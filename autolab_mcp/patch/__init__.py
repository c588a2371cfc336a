"""Unified diffs: parse what `git diff` / `diff -u` print (`parse`) and apply hunks exactly (`apply`).

Pure functions, no I/O: the workspace reads and writes the files, and refuses what `FilePatch.unsupported`
names (symlinks, binary patches, renames, mode changes).
"""

from autolab_mcp.patch.apply import apply_file_patch
from autolab_mcp.patch.model import EXPECTED, MAX_LINE_NUMBER, FilePatch, Hunk, PatchError, Tag
from autolab_mcp.patch.parse import parse_patch

__all__ = [
    "EXPECTED",
    "MAX_LINE_NUMBER",
    "FilePatch",
    "Hunk",
    "PatchError",
    "Tag",
    "apply_file_patch",
    "parse_patch",
]
