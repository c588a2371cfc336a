"""Watching a server's run directory from the outside, as the runner must: it is not the server and shares
no memory with it, so the budget after each call and an automatic submission are read from the files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from autolab_mcp.core.rundir import RunDir, parse_event
from clients.evalrun.budget import budget_fractions

__all__ = ["RESULT_WAIT", "EventTail", "RunMonitor", "wait_for_result"]

RESULT_WAIT = 900.0  # how long to wait for an automatic submission in progress


class EventTail:
    """The events appended to an event log since the last read.

    RunDir.iter_events reads the whole log each time; the monitor is polled after every tool call of a
    long episode, so this keeps its byte offset and the torn end of the last line until it is complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> Iterator[dict[str, Any]]:
        """The complete JSON objects written since the last call; a line that is not one is skipped."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            event = parse_event(line)
            if event is not None:
                yield event


class RunMonitor:
    """Follows a server's run directory from the outside: the budget after each call, an automatic submit."""

    def __init__(self, runs_dir: Path, run: RunDir | None = None) -> None:
        self.runs_dir = runs_dir
        self.run = run
        self._tail: EventTail | None = None
        self.budget: dict[str, Any] | None = None
        self.auto_submitted = False
        self.submitted = False

    def find(self) -> RunDir | None:
        """The server's run directory once it has made one (the only one under `runs_dir`)."""
        if self.run is None:
            found = RunDir.all_in(self.runs_dir)
            if found:
                self.run = found[0]
        return self.run

    def refresh(self) -> None:
        run = self.find()
        if run is None:
            return
        if self._tail is None:
            self._tail = EventTail(run.events)
        for event in self._tail.read_new():
            self._note(event)

    def _note(self, event: dict[str, Any]) -> None:
        budget = event.get("budget")
        if isinstance(budget, dict) and isinstance(budget.get("wall_sec"), dict):  # a BudgetReport
            self.budget = budget
        if event.get("kind") == "submitted":
            self.submitted = True
            self.auto_submitted = bool(event.get("auto"))

    def has_result(self) -> bool:
        run = self.find()
        return run is not None and run.submitted()

    def exhausted(self) -> bool:
        """The episode is over on the server's side (submitted, e.g. automatically when the wall clock ran
        out), or nothing useful is left: no experiment and no score call can be made."""
        self.refresh()
        if self.submitted:
            return True
        f = budget_fractions(self.budget)
        if not self.budget:
            return False
        no_experiments = f["experiments"] >= 1 or f["compute_sec"] >= 1
        return f["wall_sec"] >= 1 or (no_experiments and f["score_calls"] >= 1)


async def wait_for_result(monitor: RunMonitor) -> None:
    """An automatic (wall-budget) or runner submission may still be evaluating."""
    deadline = time.monotonic() + RESULT_WAIT
    while time.monotonic() < deadline:
        if monitor.has_result():
            return
        monitor.refresh()
        if monitor.run is None:
            return
        await anyio.sleep(0.5)
