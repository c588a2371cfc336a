"""Clean-room evaluation of a frozen submission.

Only the declared editable files travel from the agent's side; they are
written (regular files only, never through a link) over a pristine copy of the
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

from autolab_mcp.core.editable import matches
from autolab_mcp.core.errors import Refusal
from autolab_mcp.core.safedir import SafeDir, UnsafeEntry
from autolab_mcp.core.sandbox.base import SCORER_UID, Limits, SandboxBackend
from autolab_mcp.core.taskspec import Task
from autolab_mcp.core.wire import ScoreRecord, Split
from scorer import reasons
from scorer.harness import EvalContext, Invalid, Measurement, load_evaluate_module
from scorer.literals import count_files
from scorer.normalize import normalized_score
from scorer.review import review_flags
from scorer.seeds import evaluation_seed, seed_commitment

MAX_SUBMISSION_BYTES = 64 * 1024 * 1024


class SubmissionError(Refusal):
    """The submitted archive is unusable (not a tar, not editable files, too large)."""


def extract_submission(archive: bytes, dest: Path, editable: list[str]) -> dict[str, str]:
    """Extract only regular, editable files; refuse anything else by name. Returns path -> sha256."""
    if len(archive) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"submission is {len(archive)} bytes; the limit is {MAX_SUBMISSION_BYTES}")
    hashes: dict[str, str] = {}
    target = SafeDir(dest)  # written without following links, atomically (temp file + rename)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            members = tar.getmembers()
            for member in members:
                if not member.isfile():
                    raise SubmissionError(f"{member.name!r} is not a regular file; only editable files are accepted")
                if not matches(member.name, editable):
                    raise SubmissionError(f"{member.name!r} is not in the editable set {editable}")
            for member in members:
                source = tar.extractfile(member)
                assert source is not None  # a regular file, checked above
                data = source.read()
                # written by hand, not tar.extract: its filter= is missing from Debian's 3.11.2 (the
                # scorer image's python), and nothing of the member but its bytes and x bit is wanted
                parts = member.name.split("/")  # matches() refused "", "." and ".." parts
                try:
                    target.write(parts, data, mode=0o755 if member.mode & 0o100 else 0o644, create=True,
                                 dir_mode=0o777)
                except UnsafeEntry as exc:
                    if exc.wanted == "dir":  # a directory on the way is a file or a link of the task
                        raise SubmissionError("a submitted file's directory is not a directory of the task") from None
                    raise SubmissionError("a submitted file would replace a link or a directory of the task") from None
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
    seed_secret: bytes = b"",
    isolation_gaps: list[str] | None = None,
) -> ScoreRecord:
    """Evaluate the editable files in `archive` on the hidden `split`; never raises for a bad candidate.

    The hidden inputs come from a seed derived from `seed_secret` and the run in `request_id`
    (scorer/seeds.py; without a run id, a fresh random one). The reason shown is vetted against
    fixed phrases; rules every task states (size, literal data) are checked before the task's own."""
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
        seed = evaluation_seed(seed_secret, task.name, request_id, split)
        ctx = EvalContext(
            task=task, split=split, candidate_dir=candidate, baseline_dir=baseline, scratch=scratch,
            backend=backend, runtime=runtime, limits=limits, uid=SCORER_UID, cpu=cpu, seed=seed,
        )
        module = load_evaluate_module(task)
        task_reasons: frozenset[str] = frozenset(getattr(module, "REASONS", ()))
        try:
            measurement = _stated_rules(task, candidate, files) or module.evaluate(ctx)
        except Invalid as rejected:  # the task's way to say "fails the gate" (scorer/outputs.py)
            measurement = Measurement(valid=False, reason=rejected.reason, details=rejected.details)
        except Exception:  # a harness bug must not look like a candidate failure silently
            measurement = Measurement(valid=False, reason=reasons.HARNESS_ERROR,
                                      details={"traceback": traceback.format_exc()[-2000:]})
            task_reasons = frozenset()
        score = normalized_score(task.config, measurement.metric, measurement.timing) if measurement.valid else 0.0
        timing = measurement.timing
        verdict = timing.verdict if timing else ("passed the quality gate" if measurement.valid else "invalid")
        shown, kept = reasons.vetted(measurement.reason, task_reasons | _scorer_reasons(task))
        if not kept and measurement.valid:
            shown = reasons.PASSED
        gaps = list(isolation_gaps or [])
        return ScoreRecord(
            task=task.name, split=split, valid=measurement.valid, metric=measurement.metric, score=score,
            reason=shown, reason_detail="" if kept else measurement.reason[:2000], verdict=verdict,
            details=measurement.details, timing=timing.model_dump() if timing else None, files=files,
            submission_sha256=hashlib.sha256(archive).hexdigest(), runs=ctx.runs, request_id=request_id,
            eval_seconds=round(time.monotonic() - started, 3), seed_sha256=seed_commitment(seed),
            isolation="weak" if gaps else "strong", isolation_gaps=gaps,
            review=review_flags(task.config, measurement) if measurement.valid else [],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _size_reason(task: Task) -> str:
    return (f"the editable files are larger than this task allows (at most "
            f"{task.config.autolab.max_editable_bytes} bytes in all)")


def _literal_reason(task: Task) -> str:
    cfg = task.config.autolab
    return (f"the editable sources hold more literal data than this task allows (at most {cfg.max_literal_chars} "
            f"characters of strings and comments and {cfg.max_numeric_literals} numeric literals)")


def _scorer_reasons(task: Task) -> frozenset[str]:
    return frozenset({_size_reason(task), _literal_reason(task)})


def _stated_rules(task: Task, candidate: Path, files: dict[str, str]) -> Measurement | None:
    """The rules every task's instruction states (its budget section), checked before the task runs:
    a refusal with a fixed reason, the measured values kept in the signed record only."""
    cfg = task.config.autolab
    size = sum((candidate / rel).stat().st_size for rel in files)
    if size > cfg.max_editable_bytes:
        return Measurement(valid=False, reason=_size_reason(task), details={"editable_bytes": size})
    literals = count_files(candidate, sorted(files))
    if literals.chars > cfg.max_literal_chars or literals.numbers > cfg.max_numeric_literals:
        return Measurement(valid=False, reason=_literal_reason(task), details={"literals": literals.model_dump()})
    return None
