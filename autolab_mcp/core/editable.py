"""The one editable-path policy: which workspace paths the agent may edit and the scorer accepts.

Both sides use this module (the workspace for writes and patches, the scorer for submission
archives, the episode for read-only mounts), so the two can never disagree.

The glob language is that of ``wcmatch.glob.globmatch(path, glob, flags=GLOBSTAR | DOTGLOB)``
(tests/core/test_editable_policy.py checks it differentially), minus the forms refused below:

- A glob is a ``/``-separated path relative to the workspace root. Matching is on the whole
  path and case-sensitive.
- ``*`` matches any run of characters (possibly none) within one segment, never ``/``.
- ``?`` matches exactly one character, never ``/``.
- ``[abc]``, ``[a-z]`` and ``[!abc]`` (also ``[^abc]``) are character classes within a segment;
  a class never matches ``/``. A ``]`` right after ``[`` or ``[!`` is a literal member;
  a ``-`` is literal only as the first or last member. A literal ``*``, ``?`` or ``[`` is
  written ``[*]``, ``[?]``, ``[[]``; ``]`` alone is literal.
- ``**`` as a whole segment matches zero or more directories: ``src/**/*.py`` matches
  ``src/a.py`` and ``src/x/y/a.py``. A trailing ``/**`` matches everything inside the
  directory, but not the directory itself (``all/**`` matches ``all/q``, not ``all``);
  ``**`` alone matches every file. ``**`` inside a segment (``a**b``, ``***``) acts as ``*``.
- Dotfiles get no special treatment: ``*``, ``?``, classes and ``**`` match names and
  directories that start with ``.`` like any other (wcmatch's DOTGLOB).
- Nothing else is special: no braces, no extglob, no ``!`` negation of a whole glob.

Refused at construction (EditableGlobError, saying what was wrong and what is allowed): a bare
string instead of a list, an empty list, an empty glob, absolute globs, empty, ``.`` or ``..``
segments (``a//b``, ``./a``, ``a/``), backslashes (wcmatch would read them as escapes), control
characters, an unclosed ``[``, POSIX classes (``[[:alpha:]]``), reversed ranges (``[z-a]``) and a
``-`` in a class that is neither a range nor first or last (wcmatch reads ``[a-c-e]`` in a way
nobody would guess).

Paths are normalized relative POSIX paths: one with a leading ``/``, or an empty, ``.`` or ``..``
segment, matches nothing (an archive member ``../x`` is never editable, whatever the globs).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

from autolab_mcp.core.errors import AutolabError

_ALLOWED = (
    "a glob is a relative '/'-separated path whose segments use literal characters, '*', '?', "
    "'[abc]', '[a-z]', '[!abc]', and '**' as a whole segment for any number of directories, "
    "e.g. ['solve.py', 'src/**/*.py']"
)


class EditableGlobError(AutolabError, ValueError):
    """An editable glob (or the list of them) is malformed; the message says what and what is allowed."""


def _bad(glob: str, what: str) -> EditableGlobError:
    return EditableGlobError(f"bad editable glob {glob!r}: {what}; {_ALLOWED}")


def _class(glob: str, seg: str, start: int) -> tuple[str, int]:
    """Translate the class opening at seg[start] ('['); return (regex, index after the closing ']')."""
    j = start + 1
    negate = j < len(seg) and seg[j] in "!^"
    if negate:
        j += 1
    first = j
    items: list[str] = []
    while True:
        if j >= len(seg):
            raise _bad(glob, f"unclosed '[' in {seg!r} (a literal '[' is written '[[]')")
        c = seg[j]
        if c == "]" and j > first:
            break
        if seg.startswith("[:", j):
            raise _bad(glob, f"POSIX classes like '[[:alpha:]]' are not supported in {seg!r}; list the characters")
        if j + 2 < len(seg) and seg[j + 1] == "-" and seg[j + 2] != "]":
            hi = seg[j + 2]
            if c == "-" or hi == "-" or seg.startswith("[:", j + 2):
                raise _bad(glob, f"ambiguous '-' in class of {seg!r}; put a literal '-' first or last")
            if ord(hi) < ord(c):
                raise _bad(glob, f"reversed range '{c}-{hi}' in {seg!r}")
            items.append(f"{re.escape(c)}-{re.escape(hi)}")
            j += 3
            continue
        if c == "-" and j > first and not (j + 1 < len(seg) and seg[j + 1] == "]"):
            raise _bad(glob, f"ambiguous '-' in class of {seg!r}; put a literal '-' first or last")
        items.append(re.escape(c))
        j += 1
    body = "".join(items)
    # A class never matches '/': the lookahead keeps ranges like [.-0] inside the segment too.
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), j + 1


def _segment(glob: str, seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i < len(seg) and seg[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            regex, i = _class(glob, seg, i)
            out.append(regex)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _segments(glob: object) -> list[str | None]:
    """Validate one glob; return its segments as regexes, None for a whole-segment '**'."""
    if not isinstance(glob, str):
        raise EditableGlobError(f"editable globs must be strings, got {type(glob).__name__}; {_ALLOWED}")
    if not glob:
        raise _bad(glob, "it is empty")
    if glob.startswith("/"):
        raise _bad(glob, "absolute globs are refused, name paths relative to the workspace root")
    if "\\" in glob:
        raise _bad(glob, "backslashes are not allowed (there are no escapes; a literal '*' is written '[*]')")
    if any(ord(c) < 32 or ord(c) == 127 for c in glob):
        raise _bad(glob, "it contains control characters")
    out: list[str | None] = []
    for seg in glob.split("/"):
        if seg == "..":
            raise _bad(glob, "'..' segments are refused, globs must stay inside the workspace")
        if seg in ("", "."):
            raise _bad(glob, "empty and '.' segments are refused (write 'a/b', not 'a//b', './a/b' or 'a/b/')")
        if seg == "**":
            if not out or out[-1] is not None:  # a/**/**/b is a/**/b
                out.append(None)
        else:
            out.append(_segment(glob, seg))
    return out


def _whole(segs: list[str | None]) -> str:
    out: list[str] = []
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg is None:
            out.append("[^/]+(?:/[^/]+)*" if last else "(?:[^/]+/)*")
        else:
            out.append(seg if last else seg + "/")
    return "".join(out)


def _clean(parts: Sequence[str]) -> bool:
    return all(p not in ("", ".", "..") and "/" not in p for p in parts)


class EditablePolicy:
    """A validated list of editable globs. Raises EditableGlobError on a malformed list or glob."""

    def __init__(self, globs: Sequence[str]) -> None:
        if isinstance(globs, str | bytes):
            raise EditableGlobError(f"editable must be a list of globs, not the single string {globs!r}; {_ALLOWED}")
        if not isinstance(globs, Sequence) or not globs:
            raise EditableGlobError(f"editable must be a non-empty list of globs; {_ALLOWED}")
        self.globs: tuple[str, ...] = tuple(globs)
        compiled = [_segments(g) for g in self.globs]
        self._segs = [[None if s is None else re.compile(s) for s in segs] for segs in compiled]
        self._regex = re.compile("|".join(f"(?:{_whole(segs)})" for segs in compiled))

    def __repr__(self) -> str:
        return f"EditablePolicy({list(self.globs)!r})"

    def matches(self, path: str) -> bool:
        """True when the workspace-relative POSIX path matches any glob."""
        if not isinstance(path, str) or not path:
            return False
        return self.match_parts(path.split("/"))

    def match_parts(self, parts: Sequence[str]) -> bool:
        """True when the path made of these segments matches any glob."""
        if not parts or not _clean(parts):
            return False
        return self._regex.fullmatch("/".join(parts)) is not None

    def may_contain(self, dir_parts: Sequence[str]) -> bool:
        """Could a file below this directory match? False lets a walk skip the whole tree."""
        if not _clean(dir_parts):
            return False
        return any(_prefix(segs, dir_parts) for segs in self._segs)


def _prefix(segs: list[re.Pattern[str] | None], dirs: Sequence[str]) -> bool:
    for k, name in enumerate(dirs):
        if k >= len(segs):
            return False
        seg = segs[k]
        if seg is None:
            return True  # '**' reaches anything below
        if k == len(segs) - 1 or seg.fullmatch(name) is None:
            return False  # the glob's last segment names a file, not this directory; or no match
    return len(dirs) < len(segs)


@functools.lru_cache(maxsize=256)
def _policy(globs: tuple[str, ...]) -> EditablePolicy:
    return EditablePolicy(globs)


def policy(globs: Sequence[str]) -> EditablePolicy:
    """The (cached) policy for these globs."""
    try:
        key = tuple(globs) if not isinstance(globs, str | bytes) else None
        hash(key)
    except TypeError:
        key = None
    return EditablePolicy(globs) if key is None else _policy(key)  # the uncached call raises the clear error


def matches(path: str, globs: Sequence[str]) -> bool:
    """True when the workspace-relative POSIX `path` matches any glob."""
    return policy(globs).matches(path)


def editable_files(root: Path, editable: Sequence[str]) -> list[str]:
    """Workspace-relative regular files under root (symlinks not followed) that match the editable globs."""
    pol = policy(editable)
    found = []
    for dirpath, dirs, names in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).parts
        dirs[:] = [d for d in dirs if pol.may_contain([*rel_dir, d])]
        for name in names:
            path = Path(dirpath, name)
            if pol.match_parts([*rel_dir, name]) and path.is_file() and not path.is_symlink():
                found.append("/".join([*rel_dir, name]))
    return sorted(found)
