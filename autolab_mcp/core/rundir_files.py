"""Reading and writing the run directory's state files with one-line diagnoses.

A run directory outlives servers: a crash, a full disk or a hand edit can leave a
file missing, empty, torn or wrong. Whoever resumes or inspects the run gets one
line naming the file and what is wrong with it, never a traceback or a pydantic
dump, and a failed write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autolab_mcp.core.errors import AutolabError, Refusal

M = TypeVar("M", bound=BaseModel)

_MAX_INPUT_REPR = 60


class RunDirCorrupt(AutolabError):
    """A run-directory file is missing or unreadable; the message is one line naming the file and the fault."""


class RunDirWriteError(Refusal):
    """A run-directory file could not be written (disk full, read-only); the message is one line."""


_REASONS = {
    errno.ENOSPC: "no space left on device (disk full)",
    errno.EROFS: "read-only file system",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "the directory does not exist",
}


def describe_os_error(exc: OSError) -> str:
    """A short lower-case cause for an OSError, the same words for the same errno everywhere."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def write_error(path: Path, exc: OSError) -> RunDirWriteError:
    return RunDirWriteError(f"cannot write {path}: {describe_os_error(exc)}")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `path` via a temp file and os.replace, so readers see the old or the new file, never half of one.

    On failure the temp file is removed (a partial one would hold the space a full disk needs back) and
    RunDirWriteError is raised; the old file is untouched.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def _corrupt(what: str, path: Path, problem: str) -> RunDirCorrupt:
    return RunDirCorrupt(f"{what} {path} {problem}")


def read_json(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path`; every failure is a one-line RunDirCorrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _corrupt(what, path, "is missing") from None
    except IsADirectoryError:
        raise _corrupt(what, path, "is a directory, not a file") from None
    except OSError as exc:
        raise _corrupt(what, path, f"cannot be read: {describe_os_error(exc)}") from None
    if not data.strip():
        raise _corrupt(what, path, f"is empty ({len(data)} bytes)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _corrupt(what, path, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _corrupt(what, path, f"is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise _corrupt(what, path, "is not JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise _corrupt(what, path, f"holds a JSON {type(doc).__name__}, not an object") from None
    return doc


def first_error(exc: ValidationError) -> str:
    """The first pydantic error as `field.path: message (got value)`, one line."""
    errors = exc.errors(include_url=False)
    if not errors:
        return str(exc).splitlines()[0]
    err = errors[0]
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    loc = ".".join(str(part) for part in err.get("loc", ()))
    text = f"{loc}: {msg}" if loc else msg
    if err.get("type") not in ("missing", "value_error") and "input" in err:
        shown = repr(err["input"])
        if len(shown) > _MAX_INPUT_REPR:
            shown = shown[:_MAX_INPUT_REPR] + "..."
        text += f" (got {shown})"
    more = len(errors) - 1
    if more:
        text += f"; and {more} more error{'s' if more > 1 else ''}"
    return " ".join(text.split())  # one line whatever the messages hold


def read_model(path: Path, model: type[M], what: str) -> M:
    """`path` validated as `model`; a missing, empty, non-UTF-8, non-JSON or wrongly shaped file (negative
    counters included, where the model constrains them) is a one-line RunDirCorrupt."""
    doc = read_json(path, what)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise _corrupt(what, path, f"is invalid: {first_error(exc)}") from None


#: errnos that mean "the run directory's disk refuses writes", not a bug
_DISK_REFUSALS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@contextlib.contextmanager
def disk_refusals_as(run_dir: Path) -> Iterator[None]:
    """Turn a full or read-only disk under `run_dir` into a RunDirWriteError (a one-line refusal the
    agent sees); any other OSError stays what it is: a bug must not look like a policy message."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DISK_REFUSALS:
            raise
        where = exc.filename or run_dir
        raise RunDirWriteError(f"cannot write {where}: {describe_os_error(exc)}") from None
