"""Clean-room evaluation of a frozen submission.

Only the declared editable files travel from the agent's side; they are
extracted (tarfile "data" filter, regular files only) over a pristine copy of the
task's environment/, and the task's own evaluate() measures that in fresh
sandboxes. Whatever else the agent changed in its workspace never matters here.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autolab_mcp.globs import matches
from autolab_mcp.sandbox.base import SCORER_UID, Limits, SandboxBackend
from autolab_mcp.taskspec import Task
from scorer.harness import EvalContext, Measurement, Split, load_evaluate_module
from scorer.normalize import normalized_score

MAX_SUBMISSION_BYTES = 64 * 1024 * 1024


class SubmissionError(ValueError):
    """The submitted archive is unusable (not a tar, not editable files, too large)."""


class ScoreRecord(BaseModel):
    """One evaluation, as recorded and signed by the scorer."""

    task: str
    split: Split
    valid: bool
    metric: float | None
    score: float = Field(description="normalized: baseline 0, reference 1, no upper cap")
    reason: str = ""
    verdict: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, Any] | None = None
    files: dict[str, str] = Field(default_factory=dict, description="editable file -> sha256")
    submission_sha256: str = ""
    request_id: str = Field("", description="run_id/snapshot the server asked for: binds the record to a run")
    runs: list[dict[str, Any]] = Field(default_factory=list)
    eval_seconds: float = 0.0
    queued_seconds: float = Field(0.0, description="time spent waiting for the timing core before evaluating")


def extract_submission(archive: bytes, dest: Path, editable: list[str]) -> dict[str, str]:
    """Extract only regular, editable files; refuse anything else by name. Returns path -> sha256."""
    if len(archive) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"submission is {len(archive)} bytes; the limit is {MAX_SUBMISSION_BYTES}")
    hashes: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            members = tar.getmembers()
            for member in members:
                if not member.isfile():
                    raise SubmissionError(f"{member.name!r} is not a regular file; only editable files are accepted")
                if not matches(member.name, editable):
                    raise SubmissionError(f"{member.name!r} is not in the editable set {editable}")
            for member in members:
                target = dest / member.name
                if target.is_symlink():
                    target.unlink()
                tar.extract(member, dest, filter="data")
                data = target.read_bytes()
                hashes[member.name] = hashlib.sha256(data).hexdigest()
    except tarfile.TarError as exc:
        raise SubmissionError(f"submission is not a valid tar archive: {exc}") from exc
    return hashes


def _pristine_copy(task: Task, dest: Path) -> None:
    shutil.copytree(task.environment_dir, dest, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))


def evaluate_submission(
    task: Task,
    split: Split,
    archive: bytes,
    *,
    backend: SandboxBackend,
    runtime: Path | None,
    scratch_root: Path | None = None,
    cpu: int | None = None,
    request_id: str = "",
) -> ScoreRecord:
    """Evaluate the editable files in `archive` on the hidden `split`; never raises for a bad candidate."""
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"eval-{task.name}-", dir=scratch_root))
    os.chmod(scratch, 0o711)
    try:
        candidate = scratch / "candidate"
        baseline = scratch / "baseline"
        _pristine_copy(task, candidate)
        _pristine_copy(task, baseline)
        files = extract_submission(archive, candidate, task.config.autolab.editable)
        env = task.config.environment
        limits = Limits(
            wall_sec=task.config.autolab.eval_timeout_sec,
            memory_mb=env.memory_mb,
            cpus=env.cpus,
        )
        ctx = EvalContext(
            task=task, split=split, candidate_dir=candidate, baseline_dir=baseline, scratch=scratch,
            backend=backend, runtime=runtime, limits=limits, uid=SCORER_UID, cpu=cpu,
        )
        module = load_evaluate_module(task)
        size = sum((candidate / rel).stat().st_size for rel in files)
        cap = task.config.autolab.max_editable_bytes
        try:
            if size > cap:  # a rule of every task, stated in the instruction's budget section
                # a fixed reason (no candidate-chosen value); the size itself goes to the signed record
                measurement = Measurement(valid=False, reason=f"the editable files are larger than this task "
                                          f"allows (at most {cap} bytes in all)", details={"editable_bytes": size})
            else:
                measurement = module.evaluate(ctx)
        except Exception as exc:  # a harness bug must not look like a candidate failure silently
            measurement = Measurement(
                valid=False, reason=f"evaluation harness error: {exc!r}",
                details={"traceback": traceback.format_exc()[-2000:]},
            )
        score = normalized_score(task.config, measurement.metric, measurement.timing) if measurement.valid else 0.0
        timing = measurement.timing
        verdict = timing.verdict if timing else ("passed the quality gate" if measurement.valid else "invalid")
        return ScoreRecord(
            task=task.name, split=split, valid=measurement.valid, metric=measurement.metric, score=score,
            reason=measurement.reason, verdict=verdict, details=measurement.details,
            timing=timing.model_dump() if timing else None, files=files,
            submission_sha256=hashlib.sha256(archive).hexdigest(), runs=ctx.runs, request_id=request_id,
            eval_seconds=round(time.monotonic() - started, 3),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def tar_directory_files(root: Path, paths: list[str]) -> bytes:
    """A deterministic tar of the given files under root (used for oracle and tests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in sorted(paths):
            data = (root / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def editable_files(root: Path, editable: list[str]) -> list[str]:
    """Workspace-relative regular files under root that match the editable globs."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and matches(rel, editable):
                found.append(rel)
    return sorted(found)
