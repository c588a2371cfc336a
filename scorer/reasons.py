"""Reasons an agent may see for a hidden evaluation: a fixed vocabulary, never candidate data.

A reason like `line 22: wrong distance 361123` let a candidate choose what the agent read
(about 27 bits of hidden data per call). Here a reason is a chain of phrases joined by ": " or
"; " ("prediction failed: timed out"), and every phrase must come from the generic vocabulary
below or from the task's own `REASONS` (a collection of fixed strings in its evaluate.py). Any
other reason is replaced by FALLBACK before the record is signed; the original goes to the
record's details (the run directory, which the agent never reads). So a task author's slip
cannot open the channel again: the check is mechanical, not a review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FALLBACK = "wrong output on a hidden case"
MALFORMED = "output is not well formed"
NOT_WRITTEN = "an expected output file was not written"
NOT_REGULAR = "an output is not a regular file"
TOO_LARGE = "an output is larger than this task allows"
NOT_ARRAY = "an output is not a readable .npy array"
TIMED_OUT = "timed out"
OUT_OF_MEMORY = "killed for using too much memory"
EXIT_NONZERO = ("exited with a non-zero code (its output is not shown, since it may hold hidden data, "
                "so reproduce it with an experiment on the public data)")
HARNESS_ERROR = "evaluation harness error (the details are recorded for the operators)"

PASSED = "passed on the hidden split"

GENERIC = frozenset({
    FALLBACK, MALFORMED, NOT_WRITTEN, NOT_REGULAR, TOO_LARGE, NOT_ARRAY, TIMED_OUT, OUT_OF_MEMORY,
    EXIT_NONZERO, HARNESS_ERROR, PASSED, "baseline", "candidate", "timing failed",
    "wrong output", "the program failed",
})

_SEPARATORS = re.compile(r": |; ")
assert not any(_SEPARATORS.search(phrase) for phrase in GENERIC), "a phrase may not contain a separator"


def phrases(reason: str) -> list[str]:
    return [part for part in _SEPARATORS.split(reason) if part]


def vetted(reason: str, task_reasons: Iterable[str] = ()) -> tuple[str, bool]:
    """(reason to show, whether it was kept). Every phrase must be in the vocabulary."""
    allowed = GENERIC | frozenset(task_reasons)
    if reason and all(part in allowed for part in phrases(reason)):
        return reason, True
    return FALLBACK, False
