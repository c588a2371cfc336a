"""The run directory's append-only event log (`events.jsonl`).

One line per tool call or notable event, flushed as it is written, so a killed
server loses nothing that was acknowledged and `runs RUN_ID` can replay it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

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


class RunLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = sum(1 for _ in self.read()) if path.exists() else 0

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            event = {"seq": self._seq, "time": round(time.time(), 3), "kind": kind, **clip_value(fields)}
            line = json.dumps(event, default=str)  # ascii: lone surrogates survive
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()  # flushed, not fsynced: fsync cost 2-13 ms per call on a busy disk
            return event

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
        return events
