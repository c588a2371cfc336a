"""Parsing what `git diff` / `diff -u` print: one method per kind of line.

The parser records every git extension it sees (modes, renames, symlinks, binary patches) instead of
silently dropping it, so the workspace can refuse what it does not support. Text outside file sections
(commit messages, `Only in` lines) is ignored, as patch(1) and git apply do; anything that looks like
a hunk line where none can be is an error, because it means the hunk header's counts are wrong.
"""

from __future__ import annotations

import re

from autolab_mcp.patch.model import EXPECTED, MAX_LINE_NUMBER, FilePatch, Hunk, PatchError, Tag
from autolab_mcp.patch.names import git_names, header_name, strip_prefixes, unquote

_HUNK_RE = re.compile(r"@@ -([0-9]+)(?:,([0-9]+))? \+([0-9]+)(?:,([0-9]+))? @@(?!@).*")
_MODE_RE = re.compile(r"[0-7]{6}")
_BINARY_RE = re.compile(r"Binary files (.*) and (.*) differ")
#: Lines that end a hunk early: a sign that its header's counts are wrong.
_SECTION_STARTS = ("@@", "diff ", "--- ", "+++ ", "index ")


def parse_patch(text: str) -> list[FilePatch]:
    """Parse a unified diff (`git diff`, `git diff --no-index`, `diff -u`, `diff -ruN`)."""
    if not isinstance(text, str) or not text.strip():
        raise PatchError(f"empty patch: expected {EXPECTED}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PatchError(f"the patch text is not valid Unicode ({exc.reason})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return _Parser(lines).parse()


class _Parser:
    """Walks the patch's lines; each `_...` method takes one kind of line and moves `i` past it."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0
        self.files: list[FilePatch] = []
        self.cur: FilePatch | None = None
        self.has_headers = False  # cur has its ---/+++ lines
        self.in_binary = False  # inside the body of a GIT binary patch

    def parse(self) -> list[FilePatch]:
        while self.i < len(self.lines) and self._line(self.lines[self.i]):
            pass
        if not self.files:
            raise PatchError(f"no file headers found ('--- a/path' then '+++ b/path'): expected {EXPECTED}")
        for fp in self.files:
            _check_complete(fp)
        return self.files

    def _line(self, line: str) -> bool:
        """Take the line at `i` (and those that belong with it); False where the rest is to be ignored."""
        lineno = self.i + 1
        if line.startswith("diff --git "):
            self._git_header(line, lineno)
        elif self.in_binary:
            self.i += 1
        elif self._at_file_header():
            self._file_header(line, lineno)
        elif line.startswith("@@"):
            self._hunk(line, lineno)
        elif self._extended_header(line):
            self.i += 1
        elif (m := _BINARY_RE.fullmatch(line.rstrip("\r"))) is not None:
            self._binary_files(m, lineno)
        elif line == "-- " and self.cur is not None:
            return False  # `git format-patch` signature: the rest is the git version
        else:
            self._between_sections(line, lineno)
        return True

    # -------------------------------------------------- file-level lines

    def _git_header(self, line: str, lineno: int) -> None:
        """`diff --git a/x b/x`: a new file section, names best-effort until ---/+++ or rename lines."""
        self.cur = FilePatch(is_git=True, line=lineno)
        self.cur.old_path, self.cur.new_path = git_names(line[len("diff --git ") :])
        self.files.append(self.cur)
        self.has_headers = self.in_binary = False
        self.i += 1

    def _at_file_header(self) -> bool:
        i, lines = self.i, self.lines
        return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")

    def _file_header(self, line: str, lineno: int) -> None:
        """`--- old` then `+++ new`: the names (part of the git section before it, if there is one)."""
        old, new = strip_prefixes(header_name(line[4:]), header_name(self.lines[self.i + 1][4:]))
        if old is None and new is None:
            raise PatchError(f"patch line {lineno}: both file names are /dev/null")
        cur = self.cur
        if cur is None or not cur.is_git or self.has_headers or cur.hunks:
            cur = self.cur = FilePatch(line=lineno)
            self.files.append(cur)
        if not cur.is_rename and not cur.is_copy:
            cur.old_path, cur.new_path = old, new
        cur.is_new = cur.is_new or old is None
        cur.is_delete = cur.is_delete or new is None
        self.has_headers = True
        self.i += 2

    def _hunk(self, line: str, lineno: int) -> None:
        """`@@ -l,s +l,s @@` and the body lines it counts."""
        cur = self.cur
        if cur is None or not self.has_headers:
            raise PatchError(
                f"patch line {lineno}: hunk {line[:60]!r} comes before any '--- a/path' / '+++ b/path' "
                f"file header; expected {EXPECTED}"
            )
        hunk = _hunk_header(line, lineno)
        self.i = _HunkBody(self.lines, hunk, len(cur.hunks) + 1, cur.path).read(self.i + 1)
        cur.hunks.append(hunk)

    def _extended_header(self, line: str) -> bool:
        """A git extended header line (modes, renames, index, binary) of the current git section."""
        cur = self.cur
        if cur is None or not cur.is_git or self.has_headers or cur.hunks or not _git_extended(cur, line):
            return False
        self.in_binary = cur.is_binary and line.startswith("GIT binary patch")
        return True

    def _binary_files(self, m: re.Match[str], lineno: int) -> None:
        """`Binary files A and B differ` (diff -u, or git without --binary): a section of its own."""
        old, new = strip_prefixes(header_name(m.group(1)), header_name(m.group(2)))
        self.files.append(FilePatch(old_path=old, new_path=new, is_binary=True, line=lineno))
        self.cur, self.has_headers = None, False
        self.i += 1

    def _between_sections(self, line: str, lineno: int) -> None:
        """Any other line: ignored, unless it is a hunk line where no hunk can take it."""
        cur = self.cur
        if cur is not None and self.has_headers and line[:1] in ("+", "-", " "):
            if cur.hunks:
                h = cur.hunks[-1]
                raise PatchError(
                    f"{cur.path}: hunk {len(cur.hunks)} ({h.header}): line counts do not match the header, "
                    f"which says {h.old_count} old and {h.new_count} new lines; patch line {lineno} "
                    f"{line[:60]!r} is one more"
                )
            raise PatchError(
                f"{cur.path}: patch line {lineno}: expected a '@@ -start,count +start,count @@' hunk header "
                f"after the file header, found {line[:60]!r}"
            )
        self.i += 1


def _hunk_header(line: str, lineno: int) -> Hunk:
    header = line.rstrip("\r")
    m = _HUNK_RE.fullmatch(header)
    if m is None:
        if header.startswith("@@@"):
            raise PatchError(
                f"patch line {lineno}: combined (merge) diffs are not supported; expected {EXPECTED}"
            )
        raise PatchError(
            f"patch line {lineno}: malformed hunk header {header[:80]!r}: "
            "expected '@@ -start,count +start,count @@' (counts may be omitted when 1)"
        )
    nums = [int(g) if g is not None else 1 for g in m.groups()]
    old_start, old_count, new_start, new_count = nums
    if max(nums) > MAX_LINE_NUMBER:
        raise PatchError(f"patch line {lineno}: hunk header {header[:80]!r} has absurdly large numbers")
    if (old_start == 0 and old_count > 0) or (new_start == 0 and new_count > 0):
        raise PatchError(f"patch line {lineno}: hunk header {header[:80]!r}: line numbers start at 1")
    short = header if len(header) <= 80 else header[:77] + "..."
    return Hunk(
        old_start=old_start, old_count=old_count, new_start=new_start, new_count=new_count, header=short
    )


class _HunkBody:
    """The lines of one hunk, counted against its header: one method per kind of body line."""

    def __init__(self, lines: list[str], hunk: Hunk, number: int, path: str) -> None:
        self.lines = lines
        self.hunk = hunk
        self.where = f"{path}: hunk {number} ({hunk.header})"
        self.old_left, self.new_left = hunk.old_count, hunk.new_count
        self.body: list[tuple[Tag, str]] = []

    def read(self, i: int) -> int:
        """Fill the hunk from lines[i:]; returns the index after it (including a trailing '\\' marker)."""
        while self.old_left > 0 or self.new_left > 0:
            if i >= len(self.lines):
                raise self._mismatch(len(self.lines) + 1, "the patch ends")
            line = self.lines[i]
            if line.startswith("\\"):
                self._no_newline(i + 1)
            else:
                self._body_line(line, i + 1)
            i += 1
        if i < len(self.lines) and self.lines[i].startswith("\\"):
            self._no_newline(i + 1)
            i += 1
        self.hunk.lines = self.body
        return i

    def _body_line(self, line: str, lineno: int) -> None:
        tag = line[:1]
        # a blank line is an empty context line whose lone space an editor stripped, while both sides count
        if tag == " " or (line == "" and self.old_left > 0 and self.new_left > 0):
            self._context(lineno)
        elif tag == "-":
            self._removed(lineno)
        elif tag == "+":
            self._added(lineno)
        elif line == "" or line.startswith(_SECTION_STARTS):
            raise self._mismatch(lineno, "the hunk ends")
        else:
            raise PatchError(
                f"{self.where}: patch line {lineno}: unexpected {line[:60]!r} inside a hunk; every hunk line "
                "must start with ' ' (context), '-' (removed), '+' (added) or '\\' (no newline marker)"
            )
        if (tag != "+" and self.hunk.old_no_eol) or (tag != "-" and self.hunk.new_no_eol):
            raise PatchError(
                f"{self.where}: patch line {lineno}: '\\ No newline at end of file' must follow the last line"
            )
        self.body.append((tag if tag else " ", line[1:]))  # type: ignore[arg-type]

    def _context(self, lineno: int) -> None:
        if self.old_left == 0 or self.new_left == 0:
            raise self._mismatch(lineno, "a context line comes")
        self.old_left, self.new_left = self.old_left - 1, self.new_left - 1

    def _removed(self, lineno: int) -> None:
        if self.old_left == 0:
            raise self._mismatch(lineno, "another '-' line comes")
        self.old_left -= 1

    def _added(self, lineno: int) -> None:
        if self.new_left == 0:
            raise self._mismatch(lineno, "another '+' line comes")
        self.new_left -= 1

    def _no_newline(self, lineno: int) -> None:
        """`\\ No newline at end of file`: the line before it ends its side(s) of the file."""
        if not self.body:
            raise PatchError(f"{self.where}: patch line {lineno}: '\\ No newline at end of file' before any line")
        tag = self.body[-1][0]
        if tag != "+":
            self.hunk.old_no_eol = True
        if tag != "-":
            self.hunk.new_no_eol = True

    def _mismatch(self, lineno: int, what: str) -> PatchError:
        hunk = self.hunk
        got_old = hunk.old_count - self.old_left
        got_new = hunk.new_count - self.new_left
        return PatchError(
            f"{self.where}: line counts do not match the header, which says {hunk.old_count} old and "
            f"{hunk.new_count} new lines; {what} at patch line {lineno} after {got_old} old and "
            f"{got_new} new lines"
        )


# ---------------------------------------------------------------- git extended headers


def _git_extended(fp: FilePatch, line: str) -> bool:
    """Record one git extended header line on `fp`; False when `line` is not one."""
    line = line.rstrip("\r")
    words = line.split(" ")
    two, three = " ".join(words[:2]), " ".join(words[:3])
    if three in ("new file mode", "deleted file mode"):
        _file_mode(fp, three, words[3] if len(words) > 3 else "")
    elif two in ("old mode", "new mode"):
        _mode_change(fp, two, line[len(two) + 1 :])
    elif two in ("rename from", "rename to", "copy from", "copy to"):
        _rename_or_copy(fp, two, line[len(two) + 1 :])
    elif two in ("similarity index", "dissimilarity index"):
        pass
    elif words[0] == "index":
        _index(fp, line.partition(" ")[2])
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        fp.is_binary = True
    else:
        return False
    if "120000" in (fp.old_mode, fp.new_mode):
        fp.is_symlink = True
    return True


def _file_mode(fp: FilePatch, what: str, mode: str) -> None:
    """`new file mode M` / `deleted file mode M`."""
    if what == "new file mode":
        fp.is_new, fp.new_mode = True, mode
    else:
        fp.is_delete, fp.old_mode = True, mode


def _mode_change(fp: FilePatch, what: str, mode: str) -> None:
    """`old mode M` / `new mode M`."""
    fp.mode_change = True
    if what == "old mode":
        fp.old_mode = mode
    else:
        fp.new_mode = mode


def _rename_or_copy(fp: FilePatch, what: str, name: str) -> None:
    """`rename from/to NAME`, `copy from/to NAME` (NAME maybe quoted)."""
    name = unquote(name)[0] if name.startswith('"') else name
    if what.startswith("rename"):
        fp.is_rename = True
    else:
        fp.is_copy = True
    if what.endswith("from"):
        fp.old_path = name
    else:
        fp.new_path = name


def _index(fp: FilePatch, value: str) -> None:
    """`index abc..def 100644`: the mode, when it stays the same."""
    parts = value.split(" ")
    if len(parts) > 1 and _MODE_RE.fullmatch(parts[-1]):
        fp.old_mode = fp.old_mode or parts[-1]
        fp.new_mode = fp.new_mode or parts[-1]


def _check_complete(fp: FilePatch) -> None:
    if not fp.path:
        raise PatchError(f"patch line {fp.line}: file section without a file name")
    if fp.hunks or fp.is_binary:
        return
    if fp.is_git and (fp.is_new or fp.is_delete or fp.is_rename or fp.is_copy or fp.mode_change):
        return
    raise PatchError(
        f"{fp.path}: patch line {fp.line}: file section has no hunks ('@@ ... @@'), nothing to do"
    )
