"""The output rules of edit_distance, in one place: check.py imports this file, and the scorer loads
the pristine copy of it (never the workspace's), so the local check and the hidden evaluation accept
exactly the same distances.txt: ASCII, one non-negative integer per pair and line (surrounding
spaces allowed, at most 6 digits), each equal to the Levenshtein distance of its pair.
"""

from __future__ import annotations

from typing import Any

OUTPUT = "distances.txt"
NOT_ASCII = "distances.txt is not ASCII text"
LINE_COUNT = "distances.txt does not have exactly one line per pair"
NOT_INTEGER = "distances.txt has a line that is not a non-negative integer"
WRONG = "wrong distance"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({OUTPUT, NOT_ASCII, LINE_COUNT, NOT_INTEGER, WRONG})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def check_distances(data: bytes, expected: list[int]) -> None:
    """Raises RuleError unless `data` holds exactly the expected distances, one per line."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise RuleError(NOT_ASCII) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(expected):
        raise RuleError(LINE_COUNT, lines=len(lines), expected_lines=len(expected))
    for index, (line, want) in enumerate(zip(lines, expected, strict=True)):
        token = line.strip()
        if not (token.isdigit() and len(token) <= 6):
            raise RuleError(NOT_INTEGER, line=index + 1, text=token[:40])
        if int(token) != want:
            raise RuleError(f"{OUTPUT}: {WRONG}", line=index + 1, got=int(token), expected=want)
