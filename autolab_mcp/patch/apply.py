"""Applying a parsed file patch to text, exactly.

Pure functions, no I/O. Hunks must match exactly, at their stated line or (like GNU patch) at an
offset, never with fuzz, because a half-matching patch is worse than a clear refusal. A failure
names the file, the hunk and the first line that differs (and hints at CRLF or whitespace).
"""

from __future__ import annotations

from autolab_mcp.patch.model import FilePatch, Hunk, PatchError


def apply_file_patch(original: str | None, fp: FilePatch, notes: list[str] | None = None) -> str | None:
    """Apply `fp` to `original` (None = absent) and return the new text (None = deleted).

    Raises PatchError naming the file, the hunk and why. Offsets applied are
    appended to `notes` when given, so the caller can tell the agent.
    """
    _check_preconditions(original, fp)
    text = _Text(original or "")
    shift = 0
    lo = 0
    for k, hunk in enumerate(fp.hunks, 1):
        shift, lo = text.apply(hunk, k, fp.path, shift, lo, notes)
    return text.result(fp)


def _check_preconditions(original: str | None, fp: FilePatch) -> None:
    path = fp.path
    if fp.is_binary:
        raise PatchError(f"{path}: binary patches cannot be applied")
    if original is None and not fp.is_new:
        raise PatchError(
            f"{path}: the file does not exist (to create it, use '--- /dev/null' as the old name)"
        )
    if original is not None and fp.is_new:
        raise PatchError(f"{path}: the patch creates this file, but it already exists")


class _Text:
    """A file being patched: its lines (split on '\\n' only, without it) and whether the last one ends
    with a newline."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.final_newline = True
        if self.lines[-1] == "":
            self.lines.pop()
        else:
            self.final_newline = False

    def apply(self, hunk: Hunk, k: int, path: str, shift: int, lo: int, notes: list[str] | None) -> tuple[int, int]:
        """Apply hunk number `k` where it matches nearest to its stated line (moved by `shift`, what the
        hunks before it added) but not before `lo` (the end of the previous hunk); returns the new
        (shift, lo)."""
        lines = self.lines
        old, new = hunk.old_lines, hunk.new_lines
        base = hunk.old_start - 1 if hunk.old_count > 0 else hunk.old_start
        expected = base + shift
        pos = _find(lines, self.final_newline, hunk, old, expected, lo)
        if pos is None:
            why = _explain(lines, self.final_newline, hunk, old, expected, lo)
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
            self.final_newline = not hunk.new_no_eol if new else True
        return pos - base + len(new) - len(old), pos + len(new)

    def result(self, fp: FilePatch) -> str | None:
        lines = self.lines
        if fp.is_delete:
            if lines:
                raise PatchError(
                    f"{fp.path}: the patch deletes this file but leaves {len(lines)} line(s) in it; the file "
                    "has changed since the patch was made"
                )
            return None
        if not lines:
            return ""
        return "\n".join(lines) + ("\n" if self.final_newline else "")


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
    """Exact match at `expected`, else the nearest exact match at or after `lo` (no fuzz); of two equally
    near, the one after `expected`, as git apply and GNU patch choose."""
    n, m = len(lines), len(old)
    hi = n - m
    if lo <= expected <= hi and _matches(lines, final_newline, hunk, old, expected):
        return expected
    if m == 0 or hi < lo:
        return None  # a pure insertion has no context to find it elsewhere
    start = min(max(expected, lo), hi)
    for d in range(hi - lo + 1):
        for pos in (start + d, start - d) if d else (start,):
            if lo <= pos <= hi and pos != expected and _matches(lines, final_newline, hunk, old, pos):
                return pos
    return None


def _show(s: str) -> str:
    r = repr(s)
    return r if len(r) <= 100 else r[:97] + "..."


def _why_differs(expected: str, found: str) -> str:
    if expected.rstrip("\r") == found.rstrip("\r"):
        return " (only the line ending differs: CRLF vs LF)"
    if expected.split() == found.split():
        return " (only whitespace differs)"
    return ""


def _explain(
    lines: list[str], final_newline: bool, hunk: Hunk, old: list[str], expected: int, lo: int
) -> str:
    n, m = len(lines), len(old)
    if m == 0:
        return _explain_insertion(n, expected, lo)
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


def _explain_insertion(n: int, expected: int, lo: int) -> str:
    if expected > n:
        return f"it inserts after line {expected} but the file has only {n} lines"
    if expected < lo:
        return "it overlaps the previous hunk"
    return "the file has no newline at its end, so lines cannot be added after its last line"
