"""A scorer double for fast tests of the episode, budget and MCP layers, in the spirit of httpx's
MockTransport: it honours the `Scorer` protocol and answers with whatever a handler decides, in
this process, in microseconds. Its records carry a signature nothing verifies: never serve it.

    scorer = FakeScorer(lambda split, files: FakeScore(valid=True, metric=0.5, score=0.8))
    episode = Episode.create(task, runs, backend=FakeBackend(...), scorer=scorer)

`hold()` keeps evaluations waiting until `release()` (to test pending answers, cancels and
freezing); a handler that raises ScorerRejected or ScorerUnavailable exercises those paths.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from autolab_mcp.core.wire import ScoreRecord, SignedRecord, Split

__all__ = ["FakeScore", "FakeScorer"]


@dataclass(frozen=True)
class FakeScore:
    valid: bool = True
    metric: float | None = 1.0
    score: float = 0.5
    reason: str = ""
    queued_seconds: float = 0.0
    timing: dict[str, object] | None = None


Handler = Callable[[Split, dict[str, bytes]], FakeScore]


@dataclass
class EvaluationCall:
    split: Split
    request_id: str
    files: dict[str, bytes] = field(default_factory=dict)


class FakeScorer:
    """Scores in-process with `handler(split, files)`; records every call in `calls`."""

    def __init__(self, handler: Handler | None = None, *, task: str = "fake") -> None:
        self.handler: Handler = handler or (lambda _split, _files: FakeScore())
        self.task = task
        self.calls: list[EvaluationCall] = []
        self.started = False
        self.restarts = 0
        self._open = threading.Event()
        self._open.set()
        self.waiting = threading.Semaphore(0)  # released once per evaluation that reached the gate

    @property
    def client(self) -> FakeScorer:
        return self

    def start(self) -> None:
        self.started = True

    def ensure_running(self) -> None:
        self.started = True

    def restart(self) -> None:
        self.restarts += 1

    def stop(self) -> None:
        self.started = False

    def hold(self) -> None:
        """Evaluations from now on wait at the gate until release()."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def evaluate(self, split: Split, archive: bytes, request_id: str = "",
                 timeout: float | None = None) -> SignedRecord:
        files = _files_of(archive)
        self.calls.append(EvaluationCall(split=split, request_id=request_id, files=files))
        self.waiting.release()
        self._open.wait(timeout)
        outcome = self.handler(split, files)
        record = ScoreRecord(
            task=self.task, split=split, valid=outcome.valid, metric=outcome.metric, score=outcome.score,
            reason=outcome.reason, timing=outcome.timing, queued_seconds=outcome.queued_seconds,
            files={name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
            submission_sha256=hashlib.sha256(archive).hexdigest(), request_id=request_id,
        )
        return SignedRecord(record=record, signature="fake-" + record.submission_sha256[:16], key_id="fake")


def _files_of(archive: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[member.name] = handle.read()
    return files
