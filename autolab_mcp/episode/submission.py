"""Scoring an episode: get_metric and submit as jobs with a handle (score_jobs.py), the auto-submit
when the wall budget runs out, and the signed result record.

The rules: a feedback call is charged up front and refunded when the evaluation fails or is
interrupted by a crash; a submit freezes the episode and the budget clock; events.jsonl gets
score_started and exactly one of score / submitted / score_failed / score_interrupted.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from autolab_mcp.budget import BudgetExhausted, Ledger
from autolab_mcp.core.rundir import RunDir, RunMeta
from autolab_mcp.core.rundir_files import RunDirCorrupt, atomic_write_text, disk_refusals_as
from autolab_mcp.core.taskspec import Task
from autolab_mcp.core.wire import ScoreRecord, SignedRecord
from autolab_mcp.episode.experiments import ExperimentRunner
from autolab_mcp.episode.models import EpisodeError, MetricResult, SubmitResult
from autolab_mcp.episode.score_jobs import ScoreJob, ScoreJobInfo, ScoreJobs
from autolab_mcp.runlog import RunLog
from autolab_mcp.scorer_client import Scorer, ScorerRejected, ScorerTimeout, ScorerUnavailable
from autolab_mcp.workspace import Workspace, WorkspaceError

log = logging.getLogger("autolab.episode")

__all__ = ["Submission"]


class Submission:
    """get_metric / submit / score_status of one episode, and whether it is still open. `lock` is the
    episode's lock; experiments are frozen while an evaluation runs and killed by the submit."""

    def __init__(self, *, paths: RunDir, task: Task, meta: RunMeta, workspace: Workspace, ledger: Ledger,
                 scorer: Scorer | None, log: RunLog, lock: threading.RLock, experiments: ExperimentRunner,
                 emit: Callable[..., None]) -> None:
        self.paths = paths
        self.task = task
        self.meta = meta
        self.workspace = workspace
        self.ledger = ledger
        self.scorer = scorer
        self.log = log
        self._lock = lock
        self._experiments = experiments
        self._emit = emit
        self._score_jobs = ScoreJobs()
        self._submitting = False
        self._timer: threading.Timer | None = None
        self._result: SubmitResult | None = self._load_result()

    @property
    def submitted(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> SubmitResult | None:
        return self._result

    @property
    def submitting(self) -> bool:
        return self._submitting

    def require_active(self) -> None:
        """Raises EpisodeError once submitted, while submitting, or when the wall budget is spent (which
        starts the automatic submission)."""
        if self._result is not None:
            raise EpisodeError(
                f"the episode has ended: snapshot {self._result.snapshot} was submitted "
                f"(score {self._result.score:.3f}); reading files, history and budget still works"
            )
        if self._submitting:
            raise EpisodeError("the episode is being submitted; changes are no longer accepted")
        try:
            self.ledger.check_wall()
        except BudgetExhausted as exc:
            threading.Thread(target=self._auto_submit, daemon=True).start()
            raise EpisodeError(str(exc)) from exc

    def start_wall_timer(self) -> None:
        """Submit the last snapshot automatically when the wall budget runs out."""
        if self.submitted:
            return
        self._timer = threading.Timer(self.ledger.wall_left() + 0.05, self._auto_submit)
        self._timer.daemon = True
        self._timer.start()

    def stop_wall_timer(self) -> None:
        if self._timer:
            self._timer.cancel()

    # get_metric and submit are jobs (score_jobs.py): the call waits up to wait_sec and otherwise
    # answers `pending` with an id; events.jsonl gets score_started when a job starts and exactly one
    # of score / submitted / score_failed / score_interrupted (on resume, after a crash) for it.

    def _require_scorer(self) -> Scorer:
        if self.scorer is None:
            raise EpisodeError("no scorer is attached to this server")
        return self.scorer

    def start_metric(self) -> ScoreJob[MetricResult]:
        """Charge one score call and start the feedback evaluation; refusals charge nothing."""
        scorer = self._require_scorer()
        with self._lock, disk_refusals_as(self.paths.path):
            self.require_active()
            snapshot_id, archive = self.workspace.freeze()  # refused (unusable files) before anything is charged
            try:
                self.ledger.charge_score_call()
            except BudgetExhausted as exc:
                raise EpisodeError(str(exc)) from exc
            job_id = self._score_jobs.new_id()
            try:
                self.log.append("score_started", job=job_id, call="get_metric", snapshot=snapshot_id)
            except Exception:
                self.ledger.refund_score_call()
                raise

        def work() -> MetricResult:
            try:
                with self._experiments.frozen():
                    signed = self._evaluate(scorer, "feedback", archive, snapshot_id)
            except Exception as exc:
                self.ledger.refund_score_call()
                self.log.append("score_failed", job=job_id, error=str(exc), refunded=True)
                raise
            record = signed.record
            self.ledger.credit_wall(record.queued_seconds)
            precision = self.task.config.autolab.feedback_precision
            result = MetricResult(
                id=job_id, snapshot=snapshot_id, split="feedback", valid=record.valid,
                metric=None if record.metric is None else round(record.metric, precision + 3),
                score=round(record.score, precision), reason=_reason(record), verdict=record.verdict,
                score_calls_left=int(self.ledger.report().score_calls.left),
                queued_sec=round(record.queued_seconds, 1), elapsed_sec=round(time.monotonic() - t0, 1),
                **self._run_times(record),
            )
            self.log.append("score", job=job_id, split="feedback", snapshot=snapshot_id,
                            record=record.model_dump(mode="json"), signature=signed.signature)
            self._emit("metric", result=result)
            return result

        t0 = time.monotonic()
        job = self._score_jobs.add(ScoreJob(job_id, "get_metric", snapshot_id, work))
        job.start()
        return job

    def get_metric(self) -> MetricResult:
        """The feedback score, waiting for it however long it takes (in-process callers; MCP polls)."""
        job = self.start_metric()
        job.wait(None)
        return self._job_result(job)  # type: ignore[return-value]

    def score_result(self, job_id: str, wait_sec: float = 0.0) -> MetricResult:
        """The job's result once done (its error once failed), else a `pending` answer."""
        job = self._score_jobs.get(job_id)
        if job is None:
            known = ", ".join(self._score_jobs.known()[-5:]) or "none yet"
            raise EpisodeError(f"no scoring job {job_id!r}; recent ones: {known}")
        if wait_sec > 0:
            job.wait(wait_sec)
        if not job.done:
            split: Literal["feedback", "final"] = "final" if job.kind == "submit" else "feedback"
            model = SubmitResult if job.kind == "submit" else MetricResult
            return model(id=job.id, status="pending", snapshot=job.snapshot, split=split,
                         reason=f"still evaluating after {job.elapsed():.0f} s: poll score_status(id={job.id!r})",
                         score_calls_left=int(self.ledger.report().score_calls.left),
                         elapsed_sec=round(job.elapsed(), 1))
        return self._job_result(job)

    def _job_result(self, job: ScoreJob[Any]) -> MetricResult:
        if job.error is not None:
            raise job.error  # a Refusal reaches the agent; anything else is a fault, never shown as one
        assert job.result is not None
        return job.result  # type: ignore[no-any-return]

    def expected_score_seconds(self) -> float | None:
        """How long this episode's last finished evaluation took: the progress total of the next one."""
        finished = [j for j in self._score_jobs.infos() if j.finished_at is not None and j.status == "done"]
        if not finished:
            return None
        last = finished[-1]
        return round(last.finished_at - last.started_at, 1)  # type: ignore[operator]

    def _run_times(self, record: ScoreRecord) -> dict[str, float | None]:
        """Median run times of a task that measures time, one per side and two significant figures, so a
        run time read on a hidden split carries next to nothing about that split's inputs."""
        if not self.task.needs_timing_core:
            return {}
        timing = record.timing or {}
        candidate = timing.get("candidate_sec") or [
            r["duration_sec"] for r in record.runs if r.get("which") == "candidate" and r.get("duration_sec")]
        baseline = timing.get("baseline_sec") or []
        return {"candidate_sec": _two_figures(candidate), "baseline_sec": _two_figures(baseline)}

    def score_jobs(self) -> list[ScoreJobInfo]:
        return self._score_jobs.infos()

    def _evaluate(self, scorer: Scorer, split: Literal["feedback", "final"], archive: bytes,
                  snapshot_id: str) -> SignedRecord:
        """Raises EpisodeError (a Refusal, not charged) when the scorer refuses or is unavailable."""
        try:
            scorer.ensure_running()
            return scorer.client.evaluate(split, archive, request_id=f"{self.meta.run_id}/{snapshot_id}")
        except ScorerRejected as exc:
            raise EpisodeError(f"the scorer refused the submission: {exc}") from exc
        except ScorerUnavailable as exc:
            try:
                if isinstance(exc, ScorerTimeout):
                    scorer.restart()
                else:
                    scorer.ensure_running()
            except ScorerUnavailable:
                log.exception("scorer restart failed")
            raise EpisodeError(f"the scorer is unavailable ({exc}); the call was not charged, try again") from exc

    def start_submit(self, snapshot_id: str | None = None, *, auto: bool = False) -> ScoreJob[SubmitResult]:
        """Freeze the episode and start the final evaluation (once); running experiments are cancelled."""
        scorer = self._require_scorer()
        with self._lock, disk_refusals_as(self.paths.path):
            if self._result is not None:
                raise EpisodeError(f"already submitted snapshot {self._result.snapshot}; an episode is scored once")
            if self._submitting:
                pending = [j.id for j in self._score_jobs.pending() if j.kind == "submit"]
                where = f": poll score_status(id={pending[0]!r})" if pending else ""
                raise EpisodeError(f"a submission is already in progress{where}")
            if snapshot_id is not None:
                known = {s.id for s in self.workspace.history()}
                if snapshot_id not in known:
                    raise EpisodeError(f"no snapshot {snapshot_id!r}; see history() for the snapshot ids")
                archive = self.workspace.tar_of(snapshot_id)
            else:
                try:
                    snapshot_id, archive = self.workspace.freeze()
                except WorkspaceError:
                    if not auto:
                        raise
                    # the wall budget ran out with an unusable workspace: the last good snapshot counts
                    snapshot_id = self.workspace.history()[-1].id
                    archive = self.workspace.tar_of(snapshot_id)
            job_id = self._score_jobs.new_id()
            self.log.append("score_started", job=job_id, call="submit", snapshot=snapshot_id, auto=auto)
            self._submitting = True
        chosen: str = snapshot_id

        def work() -> SubmitResult:
            self._experiments.kill_running("cancelled", wait_sec=30.0)
            try:
                signed = self._evaluate(scorer, "final", archive, chosen)
            except Exception as exc:
                with self._lock:
                    self._submitting = False
                self.log.append("score_failed", job=job_id, error=str(exc), refunded=False)
                raise
            return self._record_submission(job_id, chosen, auto, signed, t0)

        t0 = time.monotonic()
        job = self._score_jobs.add(ScoreJob(job_id, "submit", chosen, work))
        job.start()
        return job

    def submit(self, snapshot_id: str | None = None, *, auto: bool = False) -> SubmitResult:
        """Submit and wait for the final score however long it takes (in-process callers; MCP polls)."""
        job = self.start_submit(snapshot_id, auto=auto)
        job.wait(None)
        return self._job_result(job)  # type: ignore[return-value]

    def _record_submission(self, job_id: str, snapshot_id: str, auto: bool, signed: SignedRecord,
                           t0: float) -> SubmitResult:
        record = signed.record
        self.ledger.credit_wall(record.queued_seconds)  # queued behind other episodes: not the agent's time
        self.ledger.freeze()  # the episode is over: remaining_budget stops moving here
        precision = self.task.config.autolab.feedback_precision
        result = SubmitResult(
            id=job_id, snapshot=snapshot_id, split="final", valid=record.valid,
            metric=None if record.metric is None else round(record.metric, precision + 3),
            score=round(record.score, precision), reason=_reason(record), verdict=record.verdict,
            score_calls_left=int(self.ledger.report().score_calls.left), auto=auto, signature=signed.signature,
            result_file=str(self.paths.result), queued_sec=round(record.queued_seconds, 1),
            elapsed_sec=round(time.monotonic() - t0, 1), **self._run_times(record),
        )
        document = {
            "run_id": self.meta.run_id, "task": self.task.name, "snapshot": snapshot_id, "auto": auto, "job": job_id,
            "submitted_at": datetime.now(UTC).isoformat(), "record": record.model_dump(mode="json"),
            "signature": signed.signature, "key_id": signed.key_id,
            "budget": self.ledger.report().model_dump(),
        }
        atomic_write_text(self.paths.result, json.dumps(document, indent=1))
        with self._lock:
            self._result = result
            self._submitting = False
        self.stop_wall_timer()
        self.log.append("submitted", job=job_id, snapshot=snapshot_id, auto=auto, score=record.score,
                        valid=record.valid, metric=record.metric, signature=signed.signature)
        self._emit("submitted", result=result)
        return result

    def _auto_submit(self) -> None:
        if self.submitted or self._submitting:
            return
        if self.ledger.wall_left() > 0.5:  # wall seconds were given back meanwhile (credit_wall): not yet
            self.start_wall_timer()
            return
        try:
            self.submit(auto=True)
        except EpisodeError:
            log.exception("automatic submission failed")

    def settle_interrupted(self) -> list[str]:
        """After a crash: a scoring job with no outcome in the log was interrupted. A feedback call is
        refunded (it produced nothing); an interrupted submit leaves the episode open to submit again."""
        open_jobs: dict[str, dict[str, Any]] = {}
        highest = 0
        for event in self.log.read():
            job = event.get("job")
            if not isinstance(job, str):
                continue
            if job.startswith("score-") and job[6:].isdigit():
                highest = max(highest, int(job[6:]))
            if event.get("kind") == "score_started":
                open_jobs[job] = event
            elif event.get("kind") in ("score", "submitted", "score_failed", "score_interrupted"):
                open_jobs.pop(job, None)
        self._score_jobs = ScoreJobs(first_number=highest + 1)
        for job, event in open_jobs.items():
            refunded = event.get("call") == "get_metric"
            if refunded:
                self.ledger.refund_score_call()
            self.log.append("score_interrupted", job=job, call=event.get("call"), snapshot=event.get("snapshot"),
                            refunded=refunded, reason="the server stopped during this evaluation")
        return list(open_jobs)

    def _load_result(self) -> SubmitResult | None:
        path = self.paths.result
        doc = self.paths.read_result_document()
        if doc is None:
            return None
        try:
            record = doc["record"]
            return SubmitResult(
                snapshot=doc["snapshot"], split="final", valid=record["valid"], metric=record["metric"],
                score=record["score"], reason=record.get("reason", ""), verdict=record.get("verdict", ""),
                score_calls_left=0, auto=doc.get("auto", False), signature=doc["signature"],
                result_file=str(path), id=str(doc.get("job", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise RunDirCorrupt(f"result file {path} is invalid: {what}") from None


def _reason(record: ScoreRecord) -> str:
    """A reason is never empty: a valid result says so."""
    return record.reason or ("the quality gate holds" if record.valid else "the quality gate failed")


def _two_figures(values: list[float]) -> float | None:
    if not values:
        return None
    median = statistics.median(values)
    return float(f"{median:.2g}")
