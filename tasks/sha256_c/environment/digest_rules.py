"""The output rules of sha256_c, in one place: check.py imports this file, and the scorer loads the
pristine copy of it (never the workspace's), so the local check and the hidden evaluation accept
exactly the same digests.txt: one line per message, in input order, each the message's SHA-256
digest as 64 lowercase hex digits followed by a newline (the last line too), nothing else.
"""

from __future__ import annotations

import re
from typing import Any

OUTPUT = "digests.txt"
LINE_COUNT = "digests.txt does not have exactly one line per message"
NOT_HEX = "digests.txt has a line that is not 64 lowercase hex digits"
NO_NEWLINE = "digests.txt does not end with a newline"
WRONG = "wrong digest"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({OUTPUT, LINE_COUNT, NOT_HEX, NO_NEWLINE, WRONG})

_HEX_LINE = re.compile(rb"[0-9a-f]{64}")


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def expected_text(digests: list[str]) -> bytes:
    """The one correct digests.txt for these hex digests."""
    return "".join(f"{digest}\n" for digest in digests).encode("ascii")


def check_digests(data: bytes, digests: list[str]) -> None:
    """Raises RuleError unless `data` is exactly the expected digests, one per line, in order."""
    if data == expected_text(digests):
        return
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) != len(digests):
        raise RuleError(LINE_COUNT, lines=len(lines), expected_lines=len(digests))
    for index, (line, want) in enumerate(zip(lines, digests, strict=True)):
        if not _HEX_LINE.fullmatch(line):
            raise RuleError(NOT_HEX, line=index + 1, text=line[:80].decode("ascii", "replace"))
        if line.decode("ascii") != want:
            raise RuleError(f"{OUTPUT}: {WRONG}", line=index + 1, got=line.decode("ascii"), expected=want)
    raise RuleError(NO_NEWLINE)
