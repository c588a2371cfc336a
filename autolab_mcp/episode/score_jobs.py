"""Scoring calls as jobs with a handle, like experiments.

An evaluation can take minutes on a busy host (queued behind other episodes' timing, a
task's own 60 s training run), and MCP clients cut a call at about 60 s. So `get_metric`
and `submit` start a job, wait up to `wait_sec` (at most 50 s), and otherwise answer
`pending` with an id that `score_status` polls. The job runs on its own thread and
finishes whether or not anyone polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

log = logging.getLogger("autolab.score_jobs")

R = TypeVar("R")
ScoreKind = Literal["get_metric", "submit"]
JobStatus = Literal["pending", "done", "failed"]


class ScoreJobInfo(BaseModel):
    """What history() shows of a scoring call."""

    id: str
    kind: ScoreKind
    snapshot: str
    status: JobStatus
    started_at: float
    finished_at: float | None = None
    error: str = ""


class ScoreJob(Generic[R]):
    """One evaluation running on its own thread."""

    def __init__(self, job_id: str, kind: ScoreKind, snapshot: str, work: Callable[[], R]) -> None:
        self.id = job_id
        self.kind: ScoreKind = kind
        self.snapshot = snapshot
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self.finished_at: float | None = None
        self.result: R | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._work = work

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"score-{self.id}", daemon=True).start()

    def _run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as exc:  # kept for the poller: never lost on a thread
            self.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.finished_at = time.time()
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def elapsed(self) -> float:
        end = self.finished_at
        return (end - self.started_at) if end is not None else time.monotonic() - self._t0

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    def info(self) -> ScoreJobInfo:
        status: JobStatus = "pending" if not self.done else "failed" if self.error is not None else "done"
        return ScoreJobInfo(id=self.id, kind=self.kind, snapshot=self.snapshot, status=status,
                            started_at=self.started_at, finished_at=self.finished_at,
                            error="" if self.error is None else str(self.error))


class ScoreJobs:
    """The episode's scoring jobs by id (score-0001, ...); ids continue across resumes."""

    def __init__(self, first_number: int = 1) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, ScoreJob[object]] = {}
        self._next = first_number

    def new_id(self) -> str:
        with self._lock:
            job_id = f"score-{self._next:04d}"
            self._next += 1
            return job_id

    def add(self, job: ScoreJob[R]) -> ScoreJob[R]:
        with self._lock:
            self._jobs[job.id] = job  # type: ignore[assignment]
        return job

    def get(self, job_id: str) -> ScoreJob[object] | None:
        with self._lock:
            return self._jobs.get(job_id)

    def known(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def pending(self) -> list[ScoreJob[object]]:
        with self._lock:
            return [job for job in self._jobs.values() if not job.done]

    def infos(self) -> list[ScoreJobInfo]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.info() for job in jobs]
