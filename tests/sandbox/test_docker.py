"""What only the docker backend has, against a real engine (what every backend does: test_conformance.py).

podman's Docker API here; Docker Engine works too. No mocks. The package fixture (tests/sandbox/
conftest.py) uses DOCKER_HOST when set; otherwise it starts scripts/podman-service.sh itself (and
stops it afterwards if it started it). When no engine can be had, every test here is skipped
with the reason shown as a warning too, so a missing engine is never silent. Directories live
under /tmp (world-traversable) because the sandbox runs as AGENT_UID when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import AGENT_UID, Limits, SandboxError
from autolab_mcp.core.sandbox.docker import DockerBackend
from tests.sandbox.helpers import ROOT, our_containers, req, sandbox_dir


@pytest.fixture
def backend(docker_backend: DockerBackend) -> DockerBackend:
    return docker_backend


# --------------------------------------------------------------------------- read-only files


def test_read_only_paths_from_a_pristine_root(backend: DockerBackend, ws: Path) -> None:
    pristine = sandbox_dir("pristine")
    try:
        (pristine / "sub").mkdir()
        (pristine / "ro.txt").write_text("pristine\n")
        (pristine / "sub" / "ro2.txt").write_text("pristine2\n")
        (pristine / "evil").symlink_to("/etc")
        (ws / "ro.txt").write_text("tampered\n")  # what the workspace holds does not matter
        (ws / "sub").mkdir()
        ro = ["ro.txt", "sub/ro2.txt", "evil/passwd"]
        r = backend.run(req(ws, "cat ro.txt sub/ro2.txt; echo x >> ro.txt && echo RO-WRITABLE; ls evil 2>&1 | head -1",
                            read_only_paths=ro, read_only_root=pristine))
        assert r.output_tail.splitlines()[:2] == ["pristine", "pristine2"], r.output_tail
        assert "RO-WRITABLE" not in r.output_tail and "root:" not in r.output_tail
        assert (pristine / "ro.txt").read_text() == "pristine\n"
        assert (ws / "ro.txt").read_text() == "tampered\n"
    finally:
        shutil.rmtree(pristine)


def test_read_only_staging_is_removed(backend: DockerBackend) -> None:
    parent = Path(tempfile.mkdtemp(prefix="autolab-test-parent-", dir="/tmp"))
    try:
        parent.chmod(0o755)
        ws = parent / "ws"
        ws.mkdir()
        (ws / "ro.txt").write_text("x\n")
        if ROOT:
            os.chown(ws, AGENT_UID, AGENT_UID)
        r = backend.run(req(ws, "cat ro.txt", read_only_paths=["ro.txt"]))
        assert r.ok and r.output_tail == "x\n"
        assert sorted(p.name for p in parent.iterdir()) == ["ws"]
    finally:
        shutil.rmtree(parent)


# --------------------------------------------------------------------------- tmp, shm and disk


def test_private_sized_shm(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "stat -c %a /dev/shm; df -k /dev/shm | tail -1", limits=Limits(tmp_mb=16)))
    mode, df = r.output_tail.splitlines()
    assert mode == "1777"
    assert int(df.split()[1]) == 16 * 1024


def test_disk_watchdog(backend: DockerBackend, ws: Path) -> None:
    cmd = "i=0; while true; do head -c 8M /dev/zero > w$i || exit 9; i=$((i+1)); sleep 0.05; done"
    r = backend.run(req(ws, cmd, limits=Limits(disk_mb=32, wall_sec=30)))
    assert r.disk_exceeded and r.exit_code is None and not r.timed_out and not r.ok, r
    assert r.duration_sec < 15


# --------------------------------------------------------------------------- runtime and errors


def test_runtime_venv_usable(backend: DockerBackend, ws: Path) -> None:
    runtime = ensure_runtime([])
    r = backend.run(req(ws, "command -v python; python -c 'import sys; print(sys.prefix, sys.version_info[0])'; "
                            "touch /opt/runtime/x && echo RUNTIME-WRITABLE", runtime=runtime))
    lines = r.output_tail.splitlines()
    assert lines[0] == "/opt/runtime/bin/python", r.output_tail
    assert lines[1] == "/opt/runtime 3"
    assert "RUNTIME-WRITABLE" not in r.output_tail
    env = backend.run(req(ws, "echo $PATH", runtime=runtime)).output_tail.strip()
    assert env == "/opt/runtime/bin:/usr/local/bin:/usr/bin:/bin"


def test_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/autolab-docker.sock")
    with pytest.raises(SandboxError) as info:
        DockerBackend()
    assert "unix:///nonexistent/autolab-docker.sock" in str(info.value)
    assert "podman-service.sh" in str(info.value)


def test_missing_custom_image_is_refused(backend: DockerBackend) -> None:
    with pytest.raises(SandboxError, match="not found"):
        DockerBackend(image="localhost/autolab-no-such-image:latest")


# --------------------------------------------------------------------------- the scorer, cleanup


def test_scorer_end_to_end(backend: DockerBackend) -> None:
    from autolab_mcp.core.archive import tar_directory_files
    from autolab_mcp.core.editable import editable_files
    from autolab_mcp.core.taskdirs import find_task
    from scorer.evaluate import evaluate_submission

    task = find_task("sorting_network")
    runtime = ensure_runtime(task.config.environment.requirements)
    solution = task.root / "solution"
    archive = tar_directory_files(solution, editable_files(solution, task.config.autolab.editable))
    record = evaluate_submission(task, "final", archive, backend=backend, runtime=runtime)
    assert record.valid, record.reason
    assert record.score >= 0.9, record
    assert record.runs and all(run["exit_code"] == 0 for run in record.runs)

    environment = task.environment_dir
    baseline = tar_directory_files(environment, editable_files(environment, task.config.autolab.editable))
    record = evaluate_submission(task, "feedback", baseline, backend=backend, runtime=runtime)
    assert record.valid and record.score == pytest.approx(0.0)


def test_no_containers_left(backend: DockerBackend) -> None:
    assert our_containers(backend) == []
