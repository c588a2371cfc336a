"""Git-style unified diffs between two sets of file contents (what `diff` shows the agent).

The output parses back with autolab_mcp.patch and applies with `git apply`: a/ b/ prefixes, new and
deleted file modes, and '\\ No newline at end of file' where needed (difflib lacks it).
"""

from __future__ import annotations

import difflib

from autolab_mcp.workspace.models import MAX_DIFF_CHARS


def render_diff(old: dict[str, bytes], new: dict[str, bytes]) -> str:
    """The diff from `old` to `new` (path -> content), files sorted, cut at MAX_DIFF_CHARS."""
    out: list[str] = []
    size = 0
    for rel in sorted(set(old) | set(new)):
        if old.get(rel) == new.get(rel):
            continue
        piece = unified(rel, old.get(rel), new.get(rel))
        size += len(piece)
        if size > MAX_DIFF_CHARS:
            out.append(f"[diff truncated at {MAX_DIFF_CHARS} characters]\n")
            break
        out.append(piece)
    return "".join(out)


def is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unified(rel: str, old: bytes | None, new: bytes | None) -> str:
    """One file's git-style diff, with '\\ No newline at end of file' where needed (difflib lacks it)."""
    head = [f"diff --git a/{rel} b/{rel}\n"]
    if old is None:
        head.append("new file mode 100644\n")
    elif new is None:
        head.append("deleted file mode 100644\n")
    if not is_text(old or b"") or not is_text(new or b""):
        a = "/dev/null" if old is None else f"a/{rel}"
        b = "/dev/null" if new is None else f"b/{rel}"
        return "".join(head) + f"Binary files {a} and {b} differ\n"
    body = difflib.unified_diff(
        _lines(old),
        _lines(new),
        "/dev/null" if old is None else f"a/{rel}",
        "/dev/null" if new is None else f"b/{rel}",
    )
    out = head
    for line in body:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(data: bytes | None) -> list[str]:
    r"""Lines with their '\n' (the last may lack it); split on '\n' only, as diff and patch do."""
    parts = (data or b"").decode("utf-8").split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
