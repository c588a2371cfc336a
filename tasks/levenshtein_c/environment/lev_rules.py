"""The output rules of levenshtein_c, in one place: check.py imports this file, and the scorer loads
the pristine copy of it (never the workspace's), so the local check and the hidden evaluation accept
exactly the same distances.txt. (The scorer computes the hidden distances itself, on its own side.)

distances.txt must be byte-identical to what the original lev.c writes: for every pair, in input
order, its Levenshtein distance as a plain decimal integer (no sign, no leading zeros, no spaces)
followed by one "\n".
"""

from __future__ import annotations

from typing import Any

OUTPUT = "distances.txt"
NOT_ASCII = "distances.txt is not ASCII text"
NO_NEWLINE = "distances.txt does not end with a newline"
LINE_COUNT = "distances.txt does not have exactly one line per pair"
NOT_INTEGER = "distances.txt has a line that is not a plain decimal integer"
WRONG = "wrong distance"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({OUTPUT, NOT_ASCII, NO_NEWLINE, LINE_COUNT, NOT_INTEGER, WRONG})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def expected_text(distances: list[int]) -> bytes:
    """What distances.txt must hold, byte for byte."""
    return "".join(f"{d}\n" for d in distances).encode("ascii")


def check_distances(data: bytes, expected: list[int]) -> None:
    """Raises RuleError unless `data` is exactly expected_text(expected); the reason says how it differs."""
    if data == expected_text(expected):
        return
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise RuleError(NOT_ASCII) from None
    if expected and not text.endswith("\n"):
        raise RuleError(NO_NEWLINE, bytes=len(data))
    lines = text[:-1].split("\n") if text else []
    if len(lines) != len(expected):
        raise RuleError(LINE_COUNT, lines=len(lines), expected_lines=len(expected))
    for index, (line, want) in enumerate(zip(lines, expected, strict=True)):
        if not (line.isdigit() and len(line) <= 9 and (line == "0" or not line.startswith("0"))):
            raise RuleError(NOT_INTEGER, line=index + 1, text=line[:40])
        if int(line) != want:
            raise RuleError(f"{OUTPUT}: {WRONG}", line=index + 1, got=int(line), expected=want)
    raise RuleError(f"{OUTPUT}: {WRONG}")  # unreachable: every line matched, so the bytes did
