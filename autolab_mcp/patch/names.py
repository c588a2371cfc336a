"""File names in diff headers: git's C-style quoting, diff -u's timestamps, the a/ b/ prefixes."""

from __future__ import annotations

import re

from autolab_mcp.patch.model import PatchError

_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(s: str) -> tuple[str, str]:
    """Parse a C-style quoted name as git prints it; returns (name, rest after the quote)."""
    out = bytearray()
    i = 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return out.decode("utf-8", "surrogateescape"), s[i + 1 :]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
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


def header_name(value: str) -> str | None:
    """A name from a ---/+++ line: unquoted, without diff -u's tab+timestamp; None for /dev/null."""
    if value.startswith('"'):
        name, _ = unquote(value)
    else:
        name = value.split("\t", 1)[0].rstrip(" \r")
    return None if name == "/dev/null" else name


def strip_prefixes(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """Drop git's a/ and b/ prefixes, only when every named side carries its own."""
    if old is None and new is None:
        return old, new
    if (old is None or old.startswith("a/")) and (new is None or new.startswith("b/")):
        return (old[2:] if old else old), (new[2:] if new else new)
    return old, new


def git_names(rest: str) -> tuple[str | None, str | None]:
    """Best-effort names from `diff --git A B`; ---/+++ or rename lines override them."""
    rest = rest.rstrip("\r")
    if rest.startswith('"'):
        a, tail = unquote(rest)
        tail = tail.lstrip(" ")
        b = unquote(tail)[0] if tail.startswith('"') else tail
        return strip_prefixes(a, b)
    if '"' in rest:
        a, _, tail = rest.partition(' "')
        return strip_prefixes(a, unquote('"' + tail)[0])
    # Unquoted: the two names are equal apart from the prefixes, unless this is a rename.
    for i, c in enumerate(rest):
        if c == " ":
            a, b = strip_prefixes(rest[:i], rest[i + 1 :])
            if a == b:
                return a, b
    if " b/" in rest:
        a, _, b = rest.partition(" b/")
        return strip_prefixes(a, "b/" + b)
    a, _, b = rest.partition(" ")
    return strip_prefixes(a, b)
