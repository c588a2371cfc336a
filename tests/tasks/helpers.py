"""What the task tests (tasks/<name>/tests/test_<name>.py, tests/tasks/test_task_hidden_inputs.py) and the
attack suite share: load a bundled task, its hidden evaluate module or any of its files, and evaluate a
submission the way the scorer does."""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.taskspec import Task, load_task
from autolab_mcp.core.wire import ScoreRecord, Split
from scorer.evaluate import evaluate_submission
from scorer.harness import load_evaluate_module

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"


def broken(name: str) -> Path:
    """The task's broken submission (tests/broken.diff applied to its baseline), in a fresh directory."""
    import tempfile

    from autolab_mcp.broken_case import broken_submission

    return broken_submission(task(name), Path(tempfile.mkdtemp(prefix=f"broken-{name}-")) / "broken")


def task(name: str) -> Task:
    return load_task(TASKS_DIR / name)


def hidden(name: str) -> ModuleType:
    """The task's tests/evaluate.py, loaded the way the scorer loads it."""
    return load_evaluate_module(task(name))


def module_from(path: Path, name: str) -> ModuleType:
    """Import a file by path under a private name (with its directory on sys.path meanwhile)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def env_module(name: str, file: str) -> ModuleType:
    """A file of the task's environment/ (what the agent sees), imported under a private name."""
    return module_from(TASKS_DIR / name / "environment" / file, f"_env_{name}_{Path(file).stem}")


def hidden_module(name: str, file: str) -> ModuleType:
    """A helper file of the task's hidden tests/, imported under a private name."""
    return module_from(TASKS_DIR / name / "tests" / file, f"_hidden_{name}_{Path(file).stem}")


def source(name: str, where: str, rel: str) -> str:
    """The text of a task file: `where` is environment, solution or tests."""
    return (TASKS_DIR / name / where / rel).read_text()


def _sandbox_available() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="bubblewrap missing or unusable")


def run_eval(name: str, files: dict[str, str | bytes] | Path, split: Split = "final") -> ScoreRecord:
    """Evaluate a submission (a directory holding the editable files, or path -> content), holding
    the timing core like the scorer service does."""
    from autolab_mcp.core.runtime import ensure_runtime
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend

    t = task(name)
    if isinstance(files, Path):
        archive = tar_directory_files(files, editable_files(files, t.config.autolab.editable))
    else:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for rel, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(rel)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        archive = buffer.getvalue()
    runtime = ensure_runtime(t.config.environment.requirements)
    with lease_timing_core() as lease:
        return evaluate_submission(t, split, archive, backend=BwrapBackend(), runtime=runtime, cpu=lease.core)


def assert_reference(record: ScoreRecord) -> None:
    assert record.valid, record.reason
    assert record.score >= 0.9, (record.score, record.metric, record.verdict, record.timing, record.details)
    assert record.eval_seconds < 90


def assert_baseline(record: ScoreRecord) -> None:
    assert record.valid, record.reason
    assert record.score < 0.2, (record.score, record.metric, record.verdict)


def assert_broken(record: ScoreRecord, fragment: str) -> None:
    """Invalid, with `fragment` in the reason the agent sees or (when the task's reason was not a fixed
    phrase and the agent saw the fallback) in the detail only the signed record keeps."""
    assert not record.valid and record.score == 0.0
    assert fragment in record.reason or fragment in record.reason_detail, (record.reason, record.reason_detail)


def assert_fixed_reason(record: ScoreRecord, task_name: str) -> None:
    """The reason shown is made of fixed phrases only (scorer/reasons.py and the task's REASONS)."""
    from scorer import reasons

    allowed = reasons.GENERIC | frozenset(getattr(hidden(task_name), "REASONS", ()))
    assert all(part in allowed or part.startswith(("the editable files are larger", "the editable sources hold"))
               for part in reasons.phrases(record.reason)), record.reason


def assert_reason_has_no_digits(record: ScoreRecord) -> None:
    """The reason shown is fixed phrases only, with no number a candidate chose, and nothing was held back."""
    assert_fixed_reason(record, record.task)
    assert record.reason_detail == "" and not any(c.isdigit() for c in record.reason), record.reason


def assert_timed_reference(name: str, attempts: int = 3) -> None:
    """The reference of a timing task scores about 1; a busy machine can drag one
    measurement below 0.9, so a few attempts are allowed (all must be valid)."""
    records = []
    for _ in range(attempts):
        record = run_eval(name, TASKS_DIR / name / "solution")
        assert record.valid, record.reason
        assert record.eval_seconds < 90
        records.append(record)
        if record.score >= 0.9:
            return
    raise AssertionError(f"reference scored {[round(r.score, 3) for r in records]}: {records[-1].verdict}")


def assert_broken_case(name: str, fragment: str) -> None:
    """tests/broken.diff (what `autolab-mcp oracle` submits as its broken case) fails with a fixed reason
    holding `fragment`, none of it candidate text."""
    record = run_eval(name, broken(name))
    assert_broken(record, fragment)
    assert fragment in record.reason and not record.reason_detail
    assert_fixed_reason(record, name)
