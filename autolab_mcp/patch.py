"""Unified diffs: parse what `git diff` / `diff -u` print and apply hunks exactly.

Pure functions, no I/O. The parser records every git extension it sees (modes,
renames, symlinks, binary patches) instead of silently dropping it, so the
workspace can refuse what it does not support. Application is strict: hunks must
match exactly, at their stated line or (like GNU patch) at an offset, never with
fuzz, because a half-matching patch is worse than a clear refusal.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from autolab_mcp.core.errors import Refusal

EXPECTED = "a unified diff as printed by `git diff` or `diff -u`"
#: Largest line number or count accepted in a hunk header.
MAX_LINE_NUMBER = 10**8
_PLAIN_MODES = ("100644", "100755")

_HUNK_RE = re.compile(r"@@ -([0-9]+)(?:,([0-9]+))? \+([0-9]+)(?:,([0-9]+))? @@(?!@).*")
_MODE_RE = re.compile(r"[0-7]{6}")
_BINARY_RE = re.compile(r"Binary files (.*) and (.*) differ")


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


# ---------------------------------------------------------------- parsing


def _unquote(s: str) -> tuple[str, str]:
    """Parse a C-style quoted name as git prints it; returns (name, rest after the quote)."""
    escapes = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
    out = bytearray()
    i = 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return out.decode("utf-8", "surrogateescape"), s[i + 1 :]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
                continue
            octal = s[i + 1 : i + 4]
            if re.fullmatch(r"[0-3][0-7]{2}", octal):
                out.append(int(octal, 8))
                i += 4
                continue
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    raise PatchError(f"unterminated quoted file name: {s[:80]!r}")


def _header_name(value: str) -> str | None:
    """A name from a ---/+++ line: unquoted, without diff -u's tab+timestamp; None for /dev/null."""
    if value.startswith('"'):
        name, _ = _unquote(value)
    else:
        name = value.split("\t", 1)[0].rstrip(" \r")
    return None if name == "/dev/null" else name


def _strip_prefixes(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """Drop git's a/ and b/ prefixes, only when every named side carries its own."""
    if old is None and new is None:
        return old, new
    if (old is None or old.startswith("a/")) and (new is None or new.startswith("b/")):
        return (old[2:] if old else old), (new[2:] if new else new)
    return old, new


def _git_names(rest: str) -> tuple[str | None, str | None]:
    """Best-effort names from `diff --git A B`; ---/+++ or rename lines override them."""
    rest = rest.rstrip("\r")
    if rest.startswith('"'):
        a, tail = _unquote(rest)
        tail = tail.lstrip(" ")
        b = _unquote(tail)[0] if tail.startswith('"') else tail
        return _strip_prefixes(a, b)
    if '"' in rest:
        a, _, tail = rest.partition(' "')
        return _strip_prefixes(a, _unquote('"' + tail)[0])
    # Unquoted: the two names are equal apart from the prefixes, unless this is a rename.
    for i, c in enumerate(rest):
        if c == " ":
            a, b = _strip_prefixes(rest[:i], rest[i + 1 :])
            if a == b:
                return a, b
    if " b/" in rest:
        a, _, b = rest.partition(" b/")
        return _strip_prefixes(a, "b/" + b)
    a, _, b = rest.partition(" ")
    return _strip_prefixes(a, b)


def _parse_hunk_header(line: str, lineno: int) -> Hunk:
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


def _read_hunk(lines: list[str], i: int, hunk: Hunk, number: int, path: str) -> int:
    """Fill `hunk` from lines[i:]; returns the index after it (including a trailing '\\' marker)."""
    where = f"{path}: hunk {number} ({hunk.header})"
    old_left, new_left = hunk.old_count, hunk.new_count
    body: list[tuple[Tag, str]] = []

    def mismatch(lineno: int, what: str) -> PatchError:
        got_old = hunk.old_count - old_left
        got_new = hunk.new_count - new_left
        return PatchError(
            f"{where}: line counts do not match the header, which says {hunk.old_count} old and "
            f"{hunk.new_count} new lines; {what} at patch line {lineno} after {got_old} old and "
            f"{got_new} new lines"
        )

    def marker(lineno: int) -> None:
        if not body:
            raise PatchError(f"{where}: patch line {lineno}: '\\ No newline at end of file' before any line")
        tag = body[-1][0]
        if tag != "+":
            hunk.old_no_eol = True
        if tag != "-":
            hunk.new_no_eol = True

    while old_left > 0 or new_left > 0:
        if i >= len(lines):
            raise mismatch(len(lines) + 1, "the patch ends")
        line, lineno = lines[i], i + 1
        tag = line[:1]
        if tag == "\\":
            marker(lineno)
            i += 1
            continue
        if tag in (" ", "") and not (line == "" and (old_left == 0 or new_left == 0)):
            if old_left == 0 or new_left == 0:
                raise mismatch(lineno, "a context line comes")
            old_left, new_left = old_left - 1, new_left - 1
        elif tag == "-":
            if old_left == 0:
                raise mismatch(lineno, "another '-' line comes")
            old_left -= 1
        elif tag == "+":
            if new_left == 0:
                raise mismatch(lineno, "another '+' line comes")
            new_left -= 1
        elif line == "" or line.startswith(("@@", "diff ", "--- ", "+++ ", "index ")):
            raise mismatch(lineno, "the hunk ends")
        else:
            raise PatchError(
                f"{where}: patch line {lineno}: unexpected {line[:60]!r} inside a hunk; every hunk line "
                "must start with ' ' (context), '-' (removed), '+' (added) or '\\' (no newline marker)"
            )
        if (tag != "+" and hunk.old_no_eol) or (tag != "-" and hunk.new_no_eol):
            raise PatchError(
                f"{where}: patch line {lineno}: '\\ No newline at end of file' must follow the last line"
            )
        body.append((tag if tag else " ", line[1:]))  # type: ignore[arg-type]
        i += 1
    if i < len(lines) and lines[i].startswith("\\"):
        marker(i + 1)
        i += 1
    hunk.lines = body
    return i


def _is_file_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def parse_patch(text: str) -> list[FilePatch]:
    """Parse a unified diff (`git diff`, `git diff --no-index`, `diff -u`, `diff -ruN`).

    Text outside file sections (commit messages, `Only in` lines) is ignored, as
    patch(1) and git apply do; anything that looks like a hunk line where none
    can be is an error, because it means the hunk header's counts are wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise PatchError(f"empty patch: expected {EXPECTED}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PatchError(f"the patch text is not valid Unicode ({exc.reason})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    files: list[FilePatch] = []
    cur: FilePatch | None = None
    has_headers = False  # cur has its ---/+++ lines
    in_binary = False
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        if line.startswith("diff --git "):
            cur = FilePatch(is_git=True, line=lineno)
            cur.old_path, cur.new_path = _git_names(line[len("diff --git ") :])
            files.append(cur)
            has_headers = in_binary = False
            i += 1
            continue
        if in_binary:
            i += 1
            continue
        if _is_file_header(lines, i):
            old = _header_name(line[4:])
            new = _header_name(lines[i + 1][4:])
            old, new = _strip_prefixes(old, new)
            if old is None and new is None:
                raise PatchError(f"patch line {lineno}: both file names are /dev/null")
            if cur is None or not cur.is_git or has_headers or cur.hunks:
                cur = FilePatch(line=lineno)
                files.append(cur)
            if not cur.is_rename and not cur.is_copy:
                cur.old_path, cur.new_path = old, new
            cur.is_new = cur.is_new or old is None
            cur.is_delete = cur.is_delete or new is None
            has_headers = True
            i += 2
            continue
        if line.startswith("@@"):
            if cur is None or not has_headers:
                raise PatchError(
                    f"patch line {lineno}: hunk {line[:60]!r} comes before any '--- a/path' / '+++ b/path' "
                    f"file header; expected {EXPECTED}"
                )
            hunk = _parse_hunk_header(line, lineno)
            i = _read_hunk(lines, i + 1, hunk, len(cur.hunks) + 1, cur.path)
            cur.hunks.append(hunk)
            continue
        if cur is not None and cur.is_git and not has_headers and not cur.hunks and _git_extended(cur, line):
            in_binary = cur.is_binary and line.startswith("GIT binary patch")
            i += 1
            continue
        m = _BINARY_RE.fullmatch(line.rstrip("\r"))
        if m is not None:
            old, new = _strip_prefixes(_header_name(m.group(1)), _header_name(m.group(2)))
            files.append(FilePatch(old_path=old, new_path=new, is_binary=True, line=lineno))
            cur, has_headers = None, False
            i += 1
            continue
        if line == "-- " and cur is not None:
            break  # `git format-patch` signature: the rest is the git version
        if cur is not None and has_headers and line[:1] in ("+", "-", " "):
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
        i += 1  # text between file sections
    if not files:
        raise PatchError(f"no file headers found ('--- a/path' then '+++ b/path'): expected {EXPECTED}")
    for fp in files:
        _check_complete(fp)
    return files


def _git_extended(fp: FilePatch, line: str) -> bool:
    """Record one git extended header line on `fp`; False when `line` is not one."""
    line = line.rstrip("\r")
    key, _, value = line.partition(" ")
    two = " ".join(line.split(" ")[:2])
    three = " ".join(line.split(" ")[:3])
    if three in ("new file mode", "deleted file mode"):
        mode = line.split(" ")[3] if len(line.split(" ")) > 3 else ""
        if three == "new file mode":
            fp.is_new, fp.new_mode = True, mode
        else:
            fp.is_delete, fp.old_mode = True, mode
    elif two in ("old mode", "new mode"):
        mode = line[len(two) + 1 :]
        fp.mode_change = True
        if two == "old mode":
            fp.old_mode = mode
        else:
            fp.new_mode = mode
    elif two in ("rename from", "rename to", "copy from", "copy to"):
        name = line[len(two) + 1 :]
        name = _unquote(name)[0] if name.startswith('"') else name
        if two.startswith("rename"):
            fp.is_rename = True
        else:
            fp.is_copy = True
        if two.endswith("from"):
            fp.old_path = name
        else:
            fp.new_path = name
    elif two in ("similarity index", "dissimilarity index"):
        pass
    elif key == "index":
        parts = value.split(" ")
        if len(parts) > 1 and _MODE_RE.fullmatch(parts[-1]):
            fp.old_mode = fp.old_mode or parts[-1]
            fp.new_mode = fp.new_mode or parts[-1]
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        fp.is_binary = True
    else:
        return False
    if "120000" in (fp.old_mode, fp.new_mode):
        fp.is_symlink = True
    return True


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


# ---------------------------------------------------------------- applying


def _show(s: str) -> str:
    r = repr(s)
    return r if len(r) <= 100 else r[:97] + "..."


def _why_differs(expected: str, found: str) -> str:
    if expected.rstrip("\r") == found.rstrip("\r"):
        return " (only the line ending differs: CRLF vs LF)"
    if expected.split() == found.split():
        return " (only whitespace differs)"
    return ""


def apply_file_patch(original: str | None, fp: FilePatch, notes: list[str] | None = None) -> str | None:
    """Apply `fp` to `original` (None = absent) and return the new text (None = deleted).

    Raises PatchError naming the file, the hunk and why. Offsets applied are
    appended to `notes` when given, so the caller can tell the agent.
    """
    path = fp.path
    if fp.is_binary:
        raise PatchError(f"{path}: binary patches cannot be applied")
    if original is None and not fp.is_new:
        raise PatchError(
            f"{path}: the file does not exist (to create it, use '--- /dev/null' as the old name)"
        )
    if original is not None and fp.is_new:
        raise PatchError(f"{path}: the patch creates this file, but it already exists")
    text = original or ""
    lines = text.split("\n")
    final_newline = True
    if lines[-1] == "":
        lines.pop()
    else:
        final_newline = False
    shift = 0
    lo = 0
    for k, hunk in enumerate(fp.hunks, 1):
        old, new = hunk.old_lines, hunk.new_lines
        base = hunk.old_start - 1 if hunk.old_count > 0 else hunk.old_start
        expected = base + shift
        pos = _find(lines, final_newline, hunk, old, expected, lo)
        if pos is None:
            why = _explain(lines, final_newline, hunk, old, expected, lo)
            raise PatchError(f"{path}: hunk {k} ({hunk.header}) does not apply: {why}")
        if pos != expected and notes is not None:
            notes.append(f"{path}: hunk {k} applied at offset {pos - expected:+d} lines")
        at_end = pos + len(old) == len(lines)
        if hunk.new_no_eol and not at_end:
            raise PatchError(
                f"{path}: hunk {k} ({hunk.header}): '\\ No newline at end of file' on a line that is not "
                "at the end of the file"
            )
        lines[pos : pos + len(old)] = new
        if at_end:
            final_newline = not hunk.new_no_eol if new else True
        shift = pos - base + len(new) - len(old)
        lo = pos + len(new)
    if fp.is_delete:
        if lines:
            raise PatchError(
                f"{path}: the patch deletes this file but leaves {len(lines)} line(s) in it; the file "
                "has changed since the patch was made"
            )
        return None
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if final_newline else "")


def _eof_ok(lines: list[str], final_newline: bool, hunk: Hunk, pos: int, m: int) -> bool:
    """Newline-at-EOF must agree: the marker iff the hunk's old part ends a file without one."""
    at_end = pos + m == len(lines)
    if hunk.old_no_eol:
        return at_end and not final_newline
    return not (at_end and not final_newline and (m > 0 or hunk.new_count > 0))


def _matches(lines: list[str], final_newline: bool, hunk: Hunk, old: list[str], pos: int) -> bool:
    m = len(old)
    return (
        (m == 0 or lines[pos] == old[0])
        and lines[pos : pos + m] == old
        and _eof_ok(lines, final_newline, hunk, pos, m)
    )


def _find(
    lines: list[str], final_newline: bool, hunk: Hunk, old: list[str], expected: int, lo: int
) -> int | None:
    """Exact match at `expected`, else the nearest exact match at or after `lo` (no fuzz)."""
    n, m = len(lines), len(old)
    hi = n - m
    if lo <= expected <= hi and _matches(lines, final_newline, hunk, old, expected):
        return expected
    if m == 0 or hi < lo:
        return None  # a pure insertion has no context to find it elsewhere
    start = min(max(expected, lo), hi)
    for d in range(hi - lo + 1):
        for pos in (start - d, start + d) if d else (start,):
            if lo <= pos <= hi and pos != expected and _matches(lines, final_newline, hunk, old, pos):
                return pos
    return None


def _explain(
    lines: list[str], final_newline: bool, hunk: Hunk, old: list[str], expected: int, lo: int
) -> str:
    n, m = len(lines), len(old)
    if m == 0:
        if expected > n:
            return f"it inserts after line {expected} but the file has only {n} lines"
        if expected < lo:
            return "it overlaps the previous hunk"
        return "the file has no newline at its end, so lines cannot be added after its last line"
    if m > n - lo:
        return f"hunk runs past end of file: it needs {m} lines but the file has {n - lo} left"
    start = min(max(expected, lo), n - m)
    suffix = " (and no exact match elsewhere in the file)"
    if expected + m > n:
        return (
            f"hunk runs past end of file: it needs lines {expected + 1}-{expected + m} but the file has "
            f"{n} lines{suffix}"
        )
    tags = [tag for tag, _ in hunk.lines if tag != "+"]
    for j, want in enumerate(old):
        got = lines[start + j]
        if got != want:
            kind = "context" if tags[j] == " " else "removed"
            return (
                f"{kind} line {j + 1} (file line {start + j + 1}) does not match: expected {_show(want)}, "
                f"found {_show(got)}{_why_differs(want, got)}{suffix}"
            )
    if hunk.old_no_eol:
        if start + m != n:
            return f"the hunk says its last line ends the file, but the file goes on after line {start + m}"
        return "the hunk says the file has no newline at its end, but it has one"
    return (
        "the file has no newline at its end but the hunk's last line has one "
        "(add '\\ No newline at end of file' after it)"
    )
