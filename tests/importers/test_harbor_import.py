"""`autolab-mcp import harbor` on Harbor-format fixture tasks of our own (tests/fixtures/harbor/):
a trusted data-file task built from its Dockerfile (/app workdir, /orig build outputs, reward.json with
nulls and a validity key) passes the oracle; a task whose verifier parses the candidate's stdout is
marked untrusted, flagged in its records and refused by eval; and what cannot be imported faithfully is
refused with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.taskspec import load_task
from autolab_mcp.importers.bases import ImportRefused
from autolab_mcp.importers.harbor import import_harbor
from autolab_mcp.oracle import check_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "harbor"
REPO = Path(__file__).resolve().parents[2]


def _import(name: str, out: Path, **options):
    return import_harbor(FIXTURES / name, out, BwrapBackend(), **options)


@pytest.fixture(scope="module")
def net_golf(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "net_golf"
    return _import("net_golf", out, valid_key="correctness")


def test_a_data_file_task_is_built_from_its_dockerfile_with_the_hidden_outputs_kept_hidden(net_golf):
    task = net_golf.task
    assert net_golf.trusted and "network.txt" in net_golf.trust_reason
    assert task.axis == "smaller" and task.config.autolab.workdir == "/app"
    assert task.config.autolab.editable == ["network.txt"]
    assert sorted(p.name for p in task.environment_dir.iterdir()) == ["README.md", "network.txt"]
    rootfs = task.tests_dir / "harbor" / "rootfs"
    assert (rootfs / "orig" / "n.txt").read_text() == "8\n"  # a RUN step with the Dockerfile's ENV, no network
    assert (rootfs / "orig" / "network.txt.orig").is_file() and (rootfs / "build" / "make_orig.py").is_file()
    harbor = task.config.autolab.harbor
    assert harbor.metric_key == "comparators" and harbor.valid_key == "correctness" and harbor.trusted
    assert harbor.base_image == "python:3.11-slim" and harbor.verifier_timeout_sec == 120
    assert task.config.environment.network_mode == "no-network"
    assert len((task.solution_dir / "network.txt").read_text().splitlines()) == 19  # solve.sh's reference
    assert "/app" in task.instruction and "run_experiment" in task.instruction
    assert task.serve_problem() is None and task.scorable and not task.untrusted_verifier
    assert task.config.environment.env == {"NET_INPUTS": "8"}  # the Dockerfile's ENV, for every sandbox


def test_the_dockerfiles_env_reaches_experiments(net_golf, tmp_path):
    """(The oracle test shows it reaches the verifier: test.sh fails without it.)"""
    from autolab_mcp.episode import Episode
    from autolab_mcp.fake_scorer import FakeScorer

    episode = Episode.create(net_golf.task, tmp_path / "runs", backend=BwrapBackend(), scorer=FakeScorer())
    try:
        info = episode.start_experiment("echo inputs=$NET_INPUTS; pwd", timeout_sec=30)
        info = episode.wait_experiment(info.id, wait_sec=60)
        log = (episode.run_dir / info.log_file).read_text()
    finally:
        episode.close()
    assert info.exit_code == 0 and "inputs=8" in log and "/app" in log, log


@pytest.mark.slow
def test_the_imported_task_passes_the_oracle_through_its_untouched_verifier(net_golf):
    report = check_task(net_golf.task)
    by_kind = {c.kind: c for c in report.checks}
    assert all(c.ok for c in report.checks), report
    assert by_kind["baseline"].metric == 28 and by_kind["reference"].metric == 19
    assert by_kind["broken"].reason == "the verifier reported the submission invalid"


def _score(task, files: dict[str, str], tmp_path: Path):
    from scorer.evaluate import evaluate_submission

    root = tmp_path / "submission"
    root.mkdir()
    for rel, text in files.items():
        (root / rel).write_text(text)
    archive = tar_directory_files(root, list(files))
    if not task.needs_timing_core:
        return evaluate_submission(task, "final", archive, backend=BwrapBackend(), runtime=None)
    with lease_timing_core() as lease:
        return evaluate_submission(task, "final", archive, backend=BwrapBackend(), runtime=None, cpu=lease.core)


@pytest.mark.slow
def test_a_verifier_that_parses_candidate_output_is_untrusted_flagged_and_refused_by_eval(tmp_path):
    report = _import("unsafe_solve", tmp_path / "unsafe")
    task = report.task
    assert not report.trusted and "solve.py" in report.trust_reason and task.untrusted_verifier
    forged = _score(task, {"solve.py": 'print("result=ok comparators=1")\n'}, tmp_path)
    assert forged.valid and forged.metric == 1  # the forgery works: that is why the task is untrusted
    assert any("untrusted verifier" in flag for flag in forged.review)
    from clients.evalrun.cli import untrusted_refusal

    refusal = untrusted_refusal([str(task.root)], allowed=False)
    assert refusal and "--allow-untrusted" in refusal and untrusted_refusal([str(task.root)], allowed=True) is None
    ran = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "eval", "--task", str(task.root), "--out",
                          str(tmp_path / "eval")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert ran.returncode == 2 and "refusing untrusted task" in ran.stderr


def _variant(tmp_path: Path, edit) -> Path:
    src = tmp_path / "variant"
    shutil.copytree(FIXTURES / "net_golf", src)
    edit(src)
    return src


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: (s / "environment/Dockerfile").write_text("FROM golang:1.22-bookworm\nWORKDIR /app\n"),
     "brings a Go toolchain"),
    (lambda s: (s / "environment/Dockerfile").write_text("FROM nvidia/cuda:12.4.1-devel-ubuntu22.04\nWORKDIR /a\n"),
     "CUDA"),
    (lambda s: (s / "environment/Dockerfile").write_text(
        "FROM ubuntu:22.04\nWORKDIR /app\nRUN apt-get update && apt-get install -y linux-tools-generic\n"),
     r"apt packages \['linux-tools-generic'\] are not on this host"),
    (lambda s: (s / "environment/Dockerfile").write_text("FROM debian\nCOPY network.txt /x/\n"), "sets no WORKDIR"),
    (lambda s: (s / "instruction.md").write_text("Make the network in /app shorter.\n"), "states no edit set"),
    (lambda s: (s / "tests/test.sh").unlink(), "tests/test.sh is missing"),
    (lambda s: (s / "environment/Dockerfile").write_text("FROM debian\nWORKDIR /app\nRUN false\n"),
     "failed in the build sandbox"),
])
def test_what_cannot_be_imported_faithfully_is_refused_with_the_reason(tmp_path, edit, message):
    src = _variant(tmp_path, edit)
    out = tmp_path / "out"
    with pytest.raises(ImportRefused, match=message):
        import_harbor(src, out, BwrapBackend())
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["variant"]  # nothing left behind


def test_the_command_line_imports_and_refuses(tmp_path):
    out = tmp_path / "cli_net"
    done = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "import", "harbor", str(FIXTURES / "net_golf"),
                           str(out), "--valid-key", "correctness"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out.resolve()) and "verifier trusted" in done.stderr
    assert load_task(out).config.autolab.editable == ["network.txt"]
    again = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "import", "harbor", str(FIXTURES / "net_golf"),
                            str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode == 2 and "exists; import into a new directory" in again.stderr


@pytest.fixture(scope="module")
def slow_primes(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "slow_primes"
    return _import("slow_primes", out, timed_command="python3 primes.py 200000")


def test_a_timing_task_is_not_imported_without_saying_what_to_time(tmp_path):
    with pytest.raises(ImportRefused, match="pass --timed-command CMD"):
        _import("slow_primes", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_timing_task_is_retimed_by_our_scorer_with_the_builds_tests_data_hidden(slow_primes):
    task = slow_primes.task
    assert task.axis == "faster" and task.needs_timing_core and task.config.autolab.scale == "log"
    assert task.config.autolab.harbor.timed_command == "python3 primes.py 200000"
    expected = task.tests_dir / "harbor" / "tests" / "expected.txt"  # written into /tests by a RUN step
    assert expected.read_text().split() == ["17984", "1709600813"] and (expected.parent / "test.sh").is_file()
    assert sorted(p.name for p in task.environment_dir.iterdir()) == ["primes.py"]
    assert not slow_primes.trusted and "primes.py" in slow_primes.trust_reason  # candidate code runs in test.sh


@pytest.mark.slow
def test_the_timing_task_passes_the_oracle_timed_with_interleaved_pairs(slow_primes):
    report = check_task(slow_primes.task)
    by_kind = {c.kind: c for c in report.checks}
    assert all(c.ok for c in report.checks), report
    assert by_kind["broken"].reason == "the verifier reported the submission invalid"  # reward.txt held 0


@pytest.mark.slow
def test_a_candidate_that_skips_the_work_when_not_verified_fails_the_timed_runs(slow_primes, tmp_path):
    source = (slow_primes.task.solution_dir / "primes.py").read_text()
    lazy = "import os, sys\nif not os.path.isdir('/logs/verifier'):\n    sys.exit(0)\n" + source
    record = _score(slow_primes.task, {"primes.py": lazy}, tmp_path)
    assert not record.valid and record.reason.endswith("the timed command's output differs from the baseline's")
