"""One episode's run directory: every file name in it, and the readers that the server, `runs`, and
the eval runner share (like Harbor's TrialPaths), so no caller spells a file name itself.

    RUN_DIR/meta.json           RunMeta: which task, backend, editable globs
    RUN_DIR/budget.json         the ledger (autolab_mcp.budget)
    RUN_DIR/events.jsonl        the event log, one JSON object per line (autolab_mcp.runlog)
    RUN_DIR/result.json         the signed final result, once submitted
    RUN_DIR/workspace/          the agent's files
    RUN_DIR/snapshots/          content-addressed snapshots of the editable files
    RUN_DIR/experiments/ID.log  an experiment's output, ID.json its record
    RUN_DIR/.lock               held by the one server serving the run
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autolab_mcp.core.rundir_files import read_json, read_model

__all__ = ["RunDir", "RunMeta", "parse_event"]


class RunMeta(BaseModel):
    run_id: str
    task: str
    task_root: str
    created: str
    backend: str
    editable: list[str]


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory; `path.name` is the run id."""

    path: Path

    @classmethod
    def under(cls, runs_dir: Path, run_id: str) -> RunDir:
        return cls(runs_dir / run_id)

    @classmethod
    def all_in(cls, runs_dir: Path) -> list[RunDir]:
        """Every run directory directly under `runs_dir` (those with a meta.json), sorted by name."""
        if not runs_dir.is_dir():
            return []
        return [run for run in map(cls, sorted(runs_dir.iterdir())) if run.exists()]

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def meta(self) -> Path:
        return self.path / "meta.json"

    @property
    def budget(self) -> Path:
        return self.path / "budget.json"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def workspace(self) -> Path:
        return self.path / "workspace"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def experiments(self) -> Path:
        return self.path / "experiments"

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    def experiment_log(self, experiment_id: str) -> Path:
        return self.experiments / f"{experiment_id}.log"

    def experiment_record(self, experiment_id: str) -> Path:
        return self.experiments / f"{experiment_id}.json"

    def exists(self) -> bool:
        """True for a run directory (one with meta.json), whatever else it holds."""
        return self.meta.exists()

    def submitted(self) -> bool:
        return self.result.exists()

    # -- readers: a damaged file is a one-line RunDirCorrupt (autolab_mcp.core.rundir_files) ------------

    def read_meta(self) -> RunMeta:
        """Raises RunDirCorrupt when meta.json is missing, torn or wrongly shaped."""
        return read_model(self.meta, RunMeta, "run metadata")

    def read_meta_document(self) -> dict[str, Any]:
        """meta.json as a plain object (for a run written by another version); raises RunDirCorrupt."""
        return read_json(self.meta, "run metadata")

    def read_budget_document(self) -> dict[str, Any]:
        """budget.json as a plain object, {} before the ledger's first write; raises RunDirCorrupt."""
        return read_json(self.budget, "budget ledger") if self.budget.exists() else {}

    def read_result_document(self) -> dict[str, Any] | None:
        """result.json as a plain object ({record, signature, key_id, run_id, snapshot, ...}), None before
        the submission; raises RunDirCorrupt for a damaged file."""
        return read_json(self.result, "result file") if self.result.exists() else None

    def read_final_record(self) -> dict[str, Any] | None:
        """The signed record inside result.json, None before the submission."""
        document = self.read_result_document()
        return None if document is None else document.get("record")

    def iter_event_lines(self) -> Iterator[str]:
        """The event log's lines as written (a torn last line included); nothing before the first event."""
        if not self.events.exists():
            return
        with open(self.events, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                yield line.rstrip("\n")

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """The event log's complete JSON objects; a torn line (a write a crash cut short) is skipped."""
        for line in self.iter_event_lines():
            event = parse_event(line)
            if event is not None:
                yield event


def parse_event(line: str | bytes) -> dict[str, Any] | None:
    """One event-log line as its JSON object; None for a torn or foreign line (not an object)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
