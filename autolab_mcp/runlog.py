"""The run directory's append-only event log (`events.jsonl`).

One line per tool call or notable event, written with one write(2) on an
O_APPEND descriptor, so a killed server loses nothing that was acknowledged and
`runs RUN_ID` can replay it. A crash mid-write can still leave a torn last line:
opening the log moves it aside (events.torn.<n>.jsonl) and notes it, so the next
event starts on a fresh line instead of being glued onto the torn one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from autolab_mcp.core.rundir_files import write_error

log = logging.getLogger("autolab.runlog")

MAX_VALUE_CHARS = 2000


def clip_value(value: Any) -> Any:
    """Keep big arguments (patches, file contents) readable in the log without bloating it."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"... [{len(value)} chars]"
    if isinstance(value, dict):
        return {k: clip_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip_value(v) for v in value[:200]]
    return value


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """The event on one line, or None if it is not a JSON object; bad UTF-8 inside strings becomes U+FFFD."""
    try:
        event = json.loads(raw.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every readable event in `path` and how many non-blank lines were skipped as unreadable.
    Never modifies the file, so it suits read-only inspection (`runs RUN_ID --events`)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    events: list[dict[str, Any]] = []
    skipped = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        event = _parse_line(raw)
        if event is None:
            skipped += 1
        else:
            events.append(event)
    return events, skipped


class RunLog:
    """The append-only log; opening it repairs a torn end (best effort: opening never fails)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = 0
        self._fresh_line_needed = False  # the file ends mid-line and could not be repaired
        self._repair()

    def _repair(self) -> None:
        """Continue `seq` from the last good event, and quarantine whatever follows it."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            self._fresh_line_needed = True
            return
        cut = 0  # end of the last complete, readable event line
        last: dict[str, Any] | None = None
        count = 0
        max_seq = 0
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline + 1
            event = _parse_line(data[start:end])
            if event is not None:
                count += 1
                last = event
                cut = end
                if isinstance(event.get("seq"), int):
                    max_seq = max(max_seq, event["seq"])
            start = end
        if last is not None and isinstance(last.get("seq"), int):
            self._seq = last["seq"]
        else:
            self._seq = max_seq or count
        tail = data[cut:]
        if not tail.strip():
            # nothing torn; a complete last event whose newline was never written is kept, and the next
            # event starts on a fresh line
            self._fresh_line_needed = bool(data) and not data.endswith(b"\n")
            return
        self._quarantine(data[:cut], tail)

    def _quarantine(self, good: bytes, torn: bytes) -> None:
        """Move `torn` (everything after the last complete event) to events.torn.<n>.jsonl, truncate the log
        to `good` and note it; if the disk refuses, leave the bytes in place and start a fresh line."""
        n = 1
        while (target := self.path.with_name(f"{self.path.stem}.torn.{n}.jsonl")).exists():
            n += 1
        created = False
        try:
            with open(target, "xb") as handle:
                created = True
                handle.write(torn)
            with open(self.path, "r+b") as handle:
                handle.truncate(len(good))
        except OSError as exc:
            log.warning("cannot quarantine the torn end of %s (%d bytes): %s", self.path, len(torn), exc)
            if created:
                with contextlib.suppress(OSError):
                    target.unlink()  # the bytes are still in the log itself
            self._fresh_line_needed = not torn.endswith(b"\n")
            return
        try:
            self.append("log_repaired", quarantined_bytes=len(torn), moved_to=target.name,
                        note=f"{len(torn)} bytes after the last complete event (a write torn by a crash) "
                             f"were moved to {target.name}")
        except RuntimeError as exc:
            log.warning("%s", exc)

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write one event as one line; RunDirWriteError (one line) if the disk refuses it, and then the log
        is left exactly as it was: no partial line."""
        with self._lock:
            event = {"seq": self._seq + 1, "time": round(time.time(), 3), "kind": kind, **clip_value(fields)}
            line = json.dumps(event, default=str) + "\n"  # ascii: lone surrogates survive
            data = (("\n" if self._fresh_line_needed else "") + line).encode("ascii")
            self._write(data)
            self._fresh_line_needed = False
            self._seq += 1
            return event

    def _write(self, data: bytes) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(self.path, exc) from None
        try:
            size_before = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)  # flushed, not fsynced: fsync cost 2-13 ms per call on a busy disk
                if written != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size_before)
                raise write_error(self.path, exc) from None
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """Every readable event; torn or undecodable lines are skipped (see read_events for the count)."""
        return read_events(self.path)[0]
