"""Reading what a candidate wrote, and rejecting it: the task author's helpers against boilerplate.

`raise Invalid(reason, **details)` anywhere in a task's evaluate() (or in a `check` given to
`ctx.time_pair`) rejects the candidate: the scorer turns it into an invalid Measurement, the
reason (fixed phrases, scorer/reasons.py) shown to the agent, the details kept in the signed
record only. `read_output` reads one output file as bytes, text, JSON or a .npy array without
following links or blocking, and raises Invalid with a fixed reason naming the file (a name the
task chose, never the candidate) when the file is missing, not regular, too large or malformed.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Literal

from autolab_mcp.core.safedir import FileTooLarge, SafeDir, SafeDirError
from scorer import reasons

OutputKind = Literal["bytes", "text", "json", "npy"]


class Invalid(Exception):
    """The candidate fails the gate. `reason`: fixed phrases the agent sees; `details`: kept in the
    signed record only (candidate-derived values belong here, never in the reason)."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    @classmethod
    def from_rule(cls, error: Exception, prefix: str = "", **details: Any) -> Invalid:
        """An Invalid from a task's shared rules module's error (one with `.reason` and `.details`:
        the module check.py also uses, which cannot import the scorer), `details` added to its own."""
        reason = getattr(error, "reason", "") or reasons.FALLBACK
        merged = {**dict(getattr(error, "details", {}) or {}), **details}
        return cls(f"{prefix}: {reason}" if prefix else reason, **merged)


def read_regular_file(path: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """(bytes, None) or (None, why): what a candidate wrote, refusing symlinks, FIFOs, directories and
    anything over max_bytes; `why` is a fixed phrase (scorer/reasons.py). Opened without following
    links and without blocking, so a candidate's output can neither redirect the scorer nor hang it."""
    try:
        data, _ = SafeDir(path.parent).read([path.name], max_bytes)
    except FileNotFoundError:
        return None, reasons.NOT_WRITTEN
    except FileTooLarge:
        return None, reasons.TOO_LARGE
    except (OSError, SafeDirError):
        return None, reasons.NOT_REGULAR
    return data, None


def read_output(output_dir: Path, name: str, max_bytes: int, kind: OutputKind = "bytes") -> Any:
    """The file `name` the candidate wrote to /output, decoded as `kind`; raises Invalid("NAME: why")
    with a fixed why. `name` must be one of the task's REASONS phrases (it is the reason's prefix).

    text: UTF-8; json: UTF-8 JSON (any value; check its shape); npy: a numpy array, never unpickled."""
    data, why = read_regular_file(output_dir / name, max_bytes)
    if data is None:
        raise Invalid(f"{name}: {why}")
    if kind == "bytes":
        return data
    if kind == "npy":
        return _npy(data, name)
    try:
        text = data.decode("utf-8")
        return json.loads(text) if kind == "json" else text
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Invalid(f"{name}: {reasons.MALFORMED}", error=str(exc)[:200]) from None


def _npy(data: bytes, name: str) -> Any:
    import numpy as np  # only the tasks that exchange arrays need it

    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        raise Invalid(f"{name}: {reasons.NOT_ARRAY}") from None
    if not isinstance(array, np.ndarray):
        raise Invalid(f"{name}: {reasons.NOT_ARRAY}")
    return array


def load_npy(path: Path, max_bytes: int, *, missing: str, what: str | None = None) -> tuple[Any, str]:
    """(array, "") or (None, why) for a .npy a candidate wrote: a regular file (see
    read_regular_file) of at most max_bytes, loaded without unpickling. `missing` is the reason when
    nothing was written (a fixed phrase of the task's REASONS); the other reasons are fixed phrases of
    scorer/reasons.py. `what` is accepted for older callers and ignored (a reason names no output)."""
    if not os.path.lexists(path):
        return None, missing
    del what
    data, why = read_regular_file(path, max_bytes)
    if data is None:
        return None, why or missing
    try:
        return _npy(data, path.name), ""
    except Invalid:
        return None, reasons.NOT_ARRAY
