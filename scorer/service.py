"""The trusted scorer: evaluates submissions for every task it serves and signs the records.

It alone reads the tasks' tests/ and solution/, and it alone holds the signing key. Timed
evaluations run one at a time per timing core, host-wide (autolab_mcp.core.cores): each holds the
core for its whole run, so measurements from parallel episodes never compete for the CPU.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autolab_mcp.core import signatures
from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox import make_backend
from autolab_mcp.core.sandbox.isolation import isolation_gaps
from autolab_mcp.core.taskspec import Task
from autolab_mcp.core.wire import EvaluateRequest, Health, SignedRecord
from scorer import seeds, signing
from scorer.cancel import CancellableBackend
from scorer.evaluate import SubmissionError, evaluate_submission

log = logging.getLogger("autolab.scorer")

#: How long an evaluation may wait for the timing core before the scorer answers 503 (busy).
DEFAULT_QUEUE_TIMEOUT_SEC = 600.0


class UnknownTask(SubmissionError):
    """The request names no task this scorer serves (the message lists the ones it does)."""


class Scorer:
    """Evaluates submissions for the tasks it was given; the trusted side of every score."""

    def __init__(self, tasks: list[Task], backend_name: str = "bwrap", *, signing_key_path: Path | None = None,
                 queue_timeout_sec: float = DEFAULT_QUEUE_TIMEOUT_SEC) -> None:
        if not tasks:
            raise ValueError("a scorer needs at least one task")
        self.tasks = {task.name: task for task in tasks}
        if len(self.tasks) != len(tasks):
            raise ValueError("two tasks share a name; each served task needs its own")
        self.queue_timeout_sec = queue_timeout_sec
        for task in tasks:
            _seal_hidden(task)
        self.backend_name = backend_name
        self.backend = make_backend(backend_name)
        self.signing_key = signing.load_or_create_signing_key(signing_key_path)
        self.public_key_text = signatures.public_key_text(self.signing_key.public_key())
        self.key_id = signatures.key_id(self.signing_key.public_key())
        self.seed_secret = seeds.load_or_create_secret()
        self.isolation_gaps = isolation_gaps(backend_name)
        if self.isolation_gaps:
            log.warning("weak isolation (results are marked so): %s", "; ".join(self.isolation_gaps))
        self._runtimes: dict[str, Path] = {}
        self._runtime_lock = threading.Lock()
        self._active = 0
        self._active_lock = threading.Lock()

    def task_for(self, name: str) -> Task:
        if not name and len(self.tasks) == 1:
            return next(iter(self.tasks.values()))
        task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(f"not a task this scorer serves; it serves: {', '.join(sorted(self.tasks))}")
        return task

    def runtime(self, task: Task) -> Path:
        with self._runtime_lock:
            if task.name not in self._runtimes:
                self._runtimes[task.name] = ensure_runtime(task.config.environment.requirements)
            return self._runtimes[task.name]

    def prepare(self) -> None:
        """Build every task's runtime now, so no first evaluation pays for it."""
        for task in self.tasks.values():
            self.runtime(task)

    def health(self, client: str = "") -> Health:
        from scorer import __version__

        return Health(ok=True, version=__version__, client=client, tasks=sorted(self.tasks),
                      backend=self.backend_name, isolation="weak" if self.isolation_gaps else "strong",
                      isolation_gaps=self.isolation_gaps, public_key=self.public_key_text, key_id=self.key_id,
                      active_evaluations=self._active,
                      limits_mode=str(getattr(self.backend, "limits_mode", "")))

    def evaluate(self, request: EvaluateRequest, cancel: threading.Event | None = None) -> SignedRecord:
        """Evaluate and sign. Raises SubmissionError (bad request), CoreBusy (queue timeout) and
        EvaluationCancelled (`cancel` was set: the client is gone; its sandboxes are dead)."""
        task = self.task_for(request.task)
        try:
            archive = base64.b64decode(request.archive_b64, validate=True)
        except ValueError as exc:
            raise SubmissionError("archive_b64 is not valid base64") from exc
        backend = CancellableBackend(self.backend, cancel or threading.Event())
        common: dict[str, Any] = {"backend": backend, "runtime": self.runtime(task), "request_id": request.request_id,
                                  "seed_secret": self.seed_secret, "isolation_gaps": self.isolation_gaps}
        with self._counting():
            if not task.needs_timing_core:  # pure counting: nothing to measure, so no queue to join
                return self._sign(evaluate_submission(task, request.split, archive, cpu=None, **common))
            # the lease alone serializes: flocks on separate opens exclude each other within a process too
            with lease_timing_core(self.queue_timeout_sec, cancel=cancel) as lease:
                record = evaluate_submission(task, request.split, archive, cpu=lease.core, **common)
                record.queued_seconds = round(lease.waited_sec, 3)
            return self._sign(record)

    @contextlib.contextmanager
    def _counting(self) -> Iterator[None]:
        """Counts the evaluation in `active_evaluations` (health) while the body runs."""
        with self._active_lock:
            self._active += 1
        try:
            yield
        finally:
            with self._active_lock:
                self._active -= 1

    def _sign(self, record: Any) -> SignedRecord:
        signature, key_id = signing.sign_record(record.model_dump(mode="json"), self.signing_key)
        return SignedRecord(record=record, signature=signature, key_id=key_id)


def _seal_hidden(task: Task) -> None:
    """tests/ and solution/ become 0700 (owned by the scorer's uid, root here): even code that escaped
    every sandbox as the agent's or the evaluation's uid could not read them."""
    if os.geteuid() != 0:
        return
    for directory in (task.tests_dir, task.solution_dir):
        if directory.is_dir():
            os.chown(directory, 0, 0)
            os.chmod(directory, 0o700)
