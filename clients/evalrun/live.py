"""Progress on stderr while a batch runs: episodes take minutes, and a silent terminal looks hung."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from clients.evalrun.models import Progress

__all__ = ["LiveTable"]


class LiveTable:
    """Progress on stderr: a table redrawn in place on a terminal, else a line per notable change."""

    def __init__(self, stream: Any = None, interval: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.rows: dict[str, Progress] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_line: dict[str, tuple[Any, float]] = {}

    def update(self, p: Progress) -> None:
        """A ProgressFn: safe from any episode's thread."""
        with self._lock:
            self.rows[p.episode_id] = p
            if not self.tty:  # a line when the status or a score changes, else at most every 30 s
                key = (p.status, p.best_score, p.final_score)
                last_key, last_time = self._last_line.get(p.episode_id, (None, 0.0))
                now = time.monotonic()
                if last_key != key or now - last_time >= 30:
                    self._last_line[p.episode_id] = (key, now)
                    print(self._format(p), file=self.stream, flush=True)

    @staticmethod
    def header() -> str:
        return f"{'task':<16} {'seed':>4} {'status':<11} {'elapsed':>8} {'budget used':>18} {'best fb':>8} " \
               f"{'final':>7} {'calls':>5}  last call"

    @staticmethod
    def _format(p: Progress) -> str:
        elapsed = time.monotonic() - p.started
        used = f"{p.budget_used * 100:5.1f}% {p.budget_kind}" if p.budget_kind else "-"
        best = "-" if p.best_score is None else f"{p.best_score:.3f}"
        final = "-" if p.final_score is None else f"{p.final_score:.3f}"
        return (f"{p.task[:16]:<16} {p.seed:>4} {p.status:<11} {elapsed:>7.0f}s {used:>18} {best:>8} {final:>7} "
                f"{p.calls:>5}  {p.last_call}")

    def _draw(self) -> None:
        with self._lock:
            lines = [self.header()] + [self._format(p) for p in self.rows.values()]
            out = ""
            if self._drawn:
                out += f"\x1b[{self._drawn}F"
            out += "".join(f"\x1b[2K{line}\n" for line in lines)
            self.stream.write(out)
            self.stream.flush()
            self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def start(self) -> None:
        if self.tty:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="live-table")
            self._thread.start()
        else:
            print(self.header(), file=self.stream, flush=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._draw()
