"""What a parsed unified diff is: files, hunks, the git extensions seen, and the one error type."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from autolab_mcp.core.errors import Refusal

EXPECTED = "a unified diff as printed by `git diff` or `diff -u`"
#: Largest line number or count accepted in a hunk header.
MAX_LINE_NUMBER = 10**8
_PLAIN_MODES = ("100644", "100755")


class PatchError(Refusal):
    """The patch is malformed or does not apply; the message says where and why."""


Tag = Literal[" ", "-", "+"]


class Hunk(BaseModel):
    """One `@@ -l,s +l,s @@` block; `lines` are (tag, text without newline)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    header: str
    lines: list[tuple[Tag, str]] = Field(default_factory=list)
    old_no_eol: bool = False
    new_no_eol: bool = False

    @property
    def old_lines(self) -> list[str]:
        return [t for tag, t in self.lines if tag != "+"]

    @property
    def new_lines(self) -> list[str]:
        return [t for tag, t in self.lines if tag != "-"]


class FilePatch(BaseModel):
    """Changes to one file. Paths are as written, minus git's a/ b/ prefixes; None = /dev/null."""

    old_path: str | None = None
    new_path: str | None = None
    hunks: list[Hunk] = Field(default_factory=list)
    is_git: bool = False
    is_new: bool = False
    is_delete: bool = False
    is_rename: bool = False
    is_copy: bool = False
    is_binary: bool = False
    is_symlink: bool = False
    mode_change: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    line: int = Field(1, description="1-based line in the patch text where this file's section starts")

    @property
    def path(self) -> str:
        """The file this patch writes: the new name, or the old one for a deletion."""
        return self.new_path if self.new_path is not None else (self.old_path or "")

    def unsupported(self) -> str | None:
        """Why a plain-text workspace cannot apply this, or None when it can."""
        if self.is_symlink:
            return "it creates or changes a symlink (mode 120000)"
        if self.is_binary:
            return "it is a binary patch"
        if self.is_rename or self.is_copy:
            return f"it {'renames' if self.is_rename else 'copies'} {self.old_path!r} to {self.new_path!r}"
        if self.mode_change:
            return f"it changes the file mode ({self.old_mode or '-'} -> {self.new_mode or '-'})"
        for mode in (self.old_mode, self.new_mode):
            if mode is not None and mode not in _PLAIN_MODES:
                return f"it uses file mode {mode} (only regular files are supported)"
        if self.is_new and self.new_mode not in (None, "100644"):
            return f"it creates the file with mode {self.new_mode} (new files are always 100644)"
        return None
