"""What every signed record carries, whatever the task: a commitment to a fresh secret seed, the host's
isolation, review flags, the stated rules every task shares, and reasons made of fixed phrases only.

A probe task (a copy of sorting_network with its own tests/evaluate.py) returns whatever reason the
candidate asks for, the way a careless task author's code might, so the tests show the scorer itself
keeps candidate-chosen text from the agent."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.taskspec import load_task
from scorer import reasons
from scorer.evaluate import SubmissionError, evaluate_submission, extract_submission
from scorer.seeds import evaluation_seed, load_or_create_secret, seed_commitment
from tests.tasks.helpers import TASKS_DIR, needs_sandbox

PROBE_EVALUATE = '''
from scorer.harness import Measurement

REASONS = frozenset({"network.py", "a fixed phrase"})


def evaluate(ctx):
    text = (ctx.candidate_dir / "network.py").read_text()
    details = {"seed": ctx.seed}
    if text.startswith("ECHO "):
        return Measurement(valid=False, reason="wrong value " + text[5:].strip(), details=details)
    if text.startswith("FIXED"):
        return Measurement(valid=False, reason="network.py: a fixed phrase", details=details)
    if text.startswith("METRIC "):
        return Measurement(valid=True, metric=float(text.split()[1]), reason="got " + text, details=details)
    raise RuntimeError("secret-looking harness failure " + text[:20])
'''


@pytest.fixture(scope="module")
def probe_task(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tasks") / "probe"
    shutil.copytree(TASKS_DIR / "sorting_network", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests" / "evaluate.py").write_text(PROBE_EVALUATE)
    task = load_task(root)
    assert task.config.autolab.review_metric_beyond == 39  # sorting_network's proven optimum for 12 inputs
    return task


def evaluate(task, text: str, *, request_id: str = "", gaps: list[str] | None = None):
    work = Path(task.root.parent) / "submission"
    work.mkdir(exist_ok=True)
    (work / "network.py").write_text(text)
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend

    return evaluate_submission(task, "feedback", tar_directory_files(work, ["network.py"]), backend=BwrapBackend(),
                               runtime=None, request_id=request_id, seed_secret=load_or_create_secret(),
                               isolation_gaps=gaps)


@needs_sandbox
def test_candidate_text_in_a_reason_never_reaches_the_agent(probe_task):
    record = evaluate(probe_task, "ECHO 361123 hidden-pair-text")
    assert record.reason == reasons.FALLBACK
    assert "361123" in record.reason_detail  # kept for the operators, in the signed record only
    fixed = evaluate(probe_task, "FIXED")
    assert fixed.reason == "network.py: a fixed phrase" and fixed.reason_detail == ""
    valid = evaluate(probe_task, "METRIC 45")
    assert valid.valid and valid.reason == reasons.PASSED and "45" not in valid.reason


@needs_sandbox
def test_a_harness_exception_shows_a_fixed_reason(probe_task):
    record = evaluate(probe_task, "anything else")
    assert not record.valid and record.reason == reasons.HARNESS_ERROR
    assert "secret-looking" in record.details["traceback"]


@needs_sandbox
def test_each_run_draws_its_own_secret_seed_and_the_record_commits_to_it(probe_task):
    first = evaluate(probe_task, "FIXED", request_id="run-a/s1")
    again = evaluate(probe_task, "FIXED", request_id="run-a/s2")  # same run, later snapshot: same inputs
    other = evaluate(probe_task, "FIXED", request_id="run-b/s1")
    loose = [evaluate(probe_task, "FIXED") for _ in range(2)]  # no run: fresh each time
    assert first.details["seed"] == again.details["seed"] != other.details["seed"]
    assert loose[0].details["seed"] != loose[1].details["seed"]
    expected = evaluation_seed(load_or_create_secret(), "probe", "run-a/s1", "feedback")
    assert first.details["seed"] == expected and first.seed_sha256 == seed_commitment(expected)


def test_seeds_depend_on_the_secret_task_run_and_split():
    secret, other_secret = b"a" * 32, b"b" * 32
    base = evaluation_seed(secret, "t", "run/1", "final")
    assert base == evaluation_seed(secret, "t", "run/2", "final")
    variants = {base, evaluation_seed(other_secret, "t", "run/1", "final"),
                evaluation_seed(secret, "u", "run/1", "final"), evaluation_seed(secret, "t", "run2/1", "final"),
                evaluation_seed(secret, "t", "run/1", "feedback")}
    assert len(variants) == 5
    assert 0 <= base < 2**63


@needs_sandbox
def test_weak_isolation_and_review_flags_are_recorded(probe_task):
    weak = evaluate(probe_task, "METRIC 41", gaps=["not root: no cpuset"])
    assert weak.isolation == "weak" and weak.isolation_gaps == ["not root: no cpuset"] and weak.review == []
    strong = evaluate(probe_task, "METRIC 12")  # fewer comparators than the proven optimum for 12 inputs
    assert strong.isolation == "strong" and strong.valid
    assert strong.review and "below 39" in strong.review[0]


@needs_sandbox
@pytest.mark.parametrize(
    "source",
    ['W = "' + "QUJD" * 1200 + '"\n', "W = [" + ", ".join(f"{i}.5" for i in range(600)) + "]\n",
     "".join(f"# {'x' * 70}\n" for i in range(70)) + "def f():\n    return open(__file__).read()\n"],
    ids=["base64-string", "float-list", "comments"],
)
def test_literal_data_past_the_caps_is_refused_before_the_task_runs(probe_task, source):
    record = evaluate(probe_task, source)
    assert not record.valid and record.score == 0
    assert record.reason.startswith("the editable sources hold more literal data")
    assert "seed" not in record.details and "literals" in record.details  # the task's evaluate never ran


def _tar(name: str, data: bytes = b"x = 1\n", kind: bytes = tarfile.REGTYPE) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo(name)
        member.type, member.size = kind, (len(data) if kind == tarfile.REGTYPE else 0)
        if kind == tarfile.SYMTYPE:
            member.linkname = "/etc/passwd"
        tar.addfile(member, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../solve.py", "/solve.py", "./solve.py", "sub/../solve.py", "solve.py/",
                                  "check.py"])
def test_the_scorer_refuses_submitted_paths_outside_the_editable_set_and_writes_nothing(
        name: str, tmp_path: Path) -> None:
    dest = tmp_path / "candidate"
    dest.mkdir()
    with pytest.raises(SubmissionError):
        extract_submission(_tar(name), dest, ["solve.py", "sub/*.py"])
    assert not any(tmp_path.rglob("solve.py"))


def test_the_scorer_refuses_links_and_writes_editable_files_with_only_their_x_bit(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError):
        extract_submission(_tar("solve.py", kind=tarfile.SYMTYPE), tmp_path, ["solve.py"])
    assert not (tmp_path / "solve.py").exists()
    hashes = extract_submission(_tar("sub/new.py", b"y = 2\n"), tmp_path, ["sub/*.py"])
    assert (tmp_path / "sub" / "new.py").read_bytes() == b"y = 2\n" and list(hashes) == ["sub/new.py"]
    assert (tmp_path / "sub" / "new.py").stat().st_mode & 0o7777 == 0o644
