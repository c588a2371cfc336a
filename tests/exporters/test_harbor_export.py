"""`autolab-mcp export harbor`: the exported layout for every bundled task, Harbor's own task model
reading it, the exported verifier (tests/test.sh) under podman giving our scorer's score, and the uid
sandbox backend the verifier falls back to where a container allows no namespaces.

Harbor needs Python >= 3.12: its venv is made once, outside the repository (AUTOLAB_HARBOR_VENV, default
/var/tmp/autolab-harbor-venv), and the test skips, saying why, without such a python or when harbor does
not install. The podman tests need root and podman (skipped without, except under CI); they use an existing
scorer image as the base (AUTOLAB_HARBOR_BASE_IMAGE, else localhost/autolab-scorer:latest or :test) and
build localhost/autolab-scorer:test (TASKS=edit_distance, as tests/scoring/test_scorer_container.py does)
only when there is none. Only untimed tasks run here: nothing leases the timing core.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from autolab_mcp.cli import main as cli_main
from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox import make_backend
from autolab_mcp.core.taskdirs import bundled_tasks_dir, discover, find_task
from autolab_mcp.core.taskspec import load_task
from autolab_mcp.exporters.harbor import DEFAULT_BASE_IMAGE, ExportRefused, export_harbor
from scorer.evaluate import evaluate_submission
from scorer.harbor_shim import reward_of

ROOT = Path(__file__).resolve().parents[2]
HARBOR_SPEC = "harbor==0.26.*"
HARBOR_VENV = Path(os.environ.get("AUTOLAB_HARBOR_VENV", "/var/tmp/autolab-harbor-venv"))
PODMAN = [ROOT / "scripts" / "podman-service.sh", "podman"]
TASKS = sorted(e.name for e in discover([bundled_tasks_dir()])
               if e.task is not None and not e.task.serve_problem() and e.task.config.autolab.harbor is None)


def _export(name: str, out: Path, **options: Any) -> Path:
    return export_harbor(find_task(name), out, **options).out


@pytest.fixture(scope="module")
def sorting_network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export("sorting_network", tmp_path_factory.mktemp("export") / "sorting_network")


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", TASKS)
def test_every_bundled_task_exports_to_the_harbor_layout(name: str, tmp_path: Path) -> None:
    task = find_task(name)
    out = _export(name, tmp_path / "out")
    for script in ("tests/test.sh", "solution/solve.sh"):
        assert os.access(out / script, os.X_OK), script
    assert f"/tests/tasks/{name} /app /logs/verifier" in (out / "tests/test.sh").read_text()
    docker = (out / "environment/Dockerfile").read_text()
    assert f"FROM {DEFAULT_BASE_IMAGE}\n" in docker and "WORKDIR /app\n" in docker
    for entry in task.environment_dir.iterdir():
        if entry.name != "__pycache__":
            assert (out / "environment" / entry.name).exists() and f'"/app/{entry.name}"' in docker
    doc = tomllib.loads((out / "task.toml").read_text())
    raw = tomllib.loads((task.root / "task.toml").read_text())
    assert doc["task"]["name"] == f"autolab/{name}" and doc["verifier"]["environment_mode"] == "separate"
    assert doc["environment"]["network_mode"] == "no-network"
    editable = editable_files(task.environment_dir, raw["autolab"]["editable"])
    assert doc["artifacts"] == [f"/app/{rel}" for rel in editable]
    assert (doc["optimization"], doc["autolab"]) == (raw["optimization"], raw["autolab"])
    # our loader reads the export (not scorable at the top) and the pristine task under tests/ (scorable)
    assert load_task(out).config.autolab.editable == task.config.autolab.editable
    assert load_task(out / "tests" / "tasks" / name).scorable
    assert not any((out / "tests" / "tasks" / name / "solution").glob("*.py"))
    lib = out / "tests" / "lib"
    assert (lib / "scorer" / "harbor_shim.py").is_file() and (lib / "autolab_mcp/core/sandbox/uid.py").is_file()
    assert not (lib / "autolab_mcp" / "server.py").exists()  # the verifier gets the kernel and the scorer only
    solved = sorted(str(p.relative_to(out / "solution" / "files")) for p in (out / "solution/files").rglob("*")
                    if p.is_file())
    assert solved == editable_files(task.solution_dir, task.config.autolab.editable)
    assert "## In this Harbor task" in (out / "instruction.md").read_text()


def test_the_cli_exports_and_refuses_a_directory_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sn"
    with pytest.raises(SystemExit) as done:
        cli_main(["export", "harbor", "sorting_network", str(out), "--base-image", "example/base:1"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == str(out.resolve())
    assert (out / "environment/Dockerfile").read_text().count("FROM example/base:1\n") == 1
    with pytest.raises(SystemExit) as again:
        cli_main(["export", "harbor", "sorting_network", str(out)])
    assert again.value.code == 2 and "exists" in capsys.readouterr().err


def test_an_imported_harbor_task_is_not_exported_again(tmp_path: Path) -> None:
    task = find_task("sorting_network")
    copy = tmp_path / "sorting_network"
    shutil.copytree(task.root, copy)
    with open(copy / "task.toml", "a") as f:
        f.write('\n[autolab.harbor]\nsource = "elsewhere"\n')
    with pytest.raises(ExportRefused, match="imported from Harbor"):
        export_harbor(load_task(copy), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_reward_holds_finite_numbers_only() -> None:
    assert reward_of({"score": 0.5, "valid": True, "metric": 41.0, "details": {"speedup": 2.5}}) == \
        {"score": 0.5, "valid": 1.0, "metric": 41.0, "speedup": 2.5}
    assert reward_of({"score": 0.0, "valid": False, "metric": None, "details": {}}) == {"score": 0.0, "valid": 0.0}
    assert reward_of({"score": float("nan"), "valid": True, "metric": float("inf")}) == {"score": 0.0, "valid": 1.0}


# --------------------------------------------------------------------------- Harbor's own model


def _python_312() -> str | None:
    names = [shutil.which(n) for n in ("python3.14", "python3.13", "python3.12")]
    names += sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3"), reverse=True)
    for python in filter(None, names):
        probe = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return python
    return None


@pytest.fixture(scope="session")
def harbor_python() -> str:
    """The python of a venv holding harbor (made once; reused while it holds HARBOR_SPEC's version)."""
    python = HARBOR_VENV / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('harbor'))"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.startswith("0.26."):
        return str(python)
    base = _python_312()
    if base is None:
        pytest.skip("harbor needs Python >= 3.12 and none was found (python3.12+ on PATH or under ~/.pyenv)")
    made = subprocess.run([base, "-m", "venv", "--clear", str(HARBOR_VENV)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv for harbor at {HARBOR_VENV}: {made.stderr.strip()[-500:]}")
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", HARBOR_SPEC],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0:
        pytest.skip(f"pip could not install {HARBOR_SPEC}: {(pip.stderr or pip.stdout).strip()[-500:]}")
    return str(python)


_LOAD_WITH_HARBOR = """
import importlib.metadata, json, sys
from harbor.models.task.task import Task
from harbor.models.task.verifier_mode import resolve_task_verifier_mode
task = Task(sys.argv[1])
cfg = task.config
print(json.dumps({
    "version": importlib.metadata.version("harbor"), "name": task.name,
    "mode": resolve_task_verifier_mode(cfg).value, "network": cfg.environment.network_mode.value,
    "artifacts": [a if isinstance(a, str) else a.source for a in cfg.artifacts],
    "test": str(task.paths.test_path), "solve": str(task.paths.discovered_solve_path),
    "cpus": cfg.environment.cpus, "memory_mb": cfg.environment.memory_mb,
    "agent_timeout": cfg.agent.timeout_sec, "instruction": "Harbor task" in task.instruction,
}))
"""


@pytest.mark.slow  # the first run makes the harbor venv (about 50 s)
def test_harbor_loads_the_export_with_its_own_task_model(harbor_python: str, sorting_network: Path) -> None:
    done = subprocess.run([harbor_python, "-c", _LOAD_WITH_HARBOR, str(sorting_network)], capture_output=True,
                          text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    task = find_task("sorting_network").config
    assert seen["version"].startswith("0.26.") and seen["name"] == "autolab/sorting_network"
    assert (seen["mode"], seen["network"], seen["artifacts"]) == ("separate", "no-network", ["/app/network.py"])
    assert seen["test"] == str(sorting_network / "tests/test.sh") and seen["solve"] == str(
        sorting_network / "solution/solve.sh")
    assert (seen["cpus"], seen["memory_mb"], seen["agent_timeout"]) == (
        task.environment.cpus, task.environment.memory_mb, task.agent.timeout_sec)
    assert seen["instruction"]


# --------------------------------------------------------------------------- the verifier under podman


def _podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *map(str, PODMAN), *args], capture_output=True, text=True, timeout=timeout)


def _base_image() -> str:
    if configured := os.environ.get("AUTOLAB_HARBOR_BASE_IMAGE"):
        return configured
    for image in (DEFAULT_BASE_IMAGE, "localhost/autolab-scorer:test"):
        if _podman("image", "exists", image).returncode == 0:
            return image  # any of ours: the verifier's own code comes from the export's tests/lib
    built = subprocess.run(["bash", str(ROOT / "scripts/build-scorer-image.sh")], capture_output=True, text=True,
                           timeout=900, env={**os.environ, "TASKS": "edit_distance", "TAG": "test"})
    assert built.returncode == 0, built.stderr[-4000:]
    return "localhost/autolab-scorer:test"


class Exported:
    """One exported task, its environment image built, run the way Harbor runs a trial."""

    def __init__(self, out: Path, image: str, scratch: Path) -> None:
        self.out, self.image, self.scratch = out, image, scratch
        self._runs = 0

    def trial(self, command: str) -> tuple[dict[str, Any], str]:
        """(reward.json, test.sh's output) of `command` in a fresh container with /tests (a copy: the shim
        seals it), /solution and /logs/verifier mounted, no network."""
        self._runs += 1
        tests, logs = self.scratch / f"tests-{self._runs}", self.scratch / f"logs-{self._runs}"
        shutil.copytree(self.out / "tests", tests)
        logs.mkdir()
        done = _podman("run", "--rm", "--network=none", "-v", f"{tests}:/tests", "-v",
                       f"{self.out / 'solution'}:/solution:ro", "-v", f"{logs}:/logs/verifier", self.image,
                       "bash", "-c", command, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return json.loads((logs / "reward.json").read_text()), done.stdout


@pytest.fixture(scope="module")
def exported(sorting_network: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    if not os.environ.get("CI") and (os.geteuid() != 0 or not shutil.which("podman")):
        pytest.skip("needs root and podman (scripts/podman-service.sh start installs it)")
    base = _base_image()
    out = _export("sorting_network", tmp_path_factory.mktemp("podman") / "sorting_network", base_image=base)
    image = "localhost/autolab-harbor-export-test:sorting_network"
    built = _podman("build", "-q", "--network=none", "-t", image, str(out / "environment"))
    assert built.returncode == 0, built.stderr[-4000:]
    return Exported(out, image, tmp_path_factory.mktemp("trials"))


def _our_score(files: Path) -> float:
    task = find_task("sorting_network")
    archive = tar_directory_files(files, editable_files(files, task.config.autolab.editable))
    record = evaluate_submission(task, "final", archive, backend=make_backend("bwrap"),
                                 runtime=ensure_runtime(task.config.environment.requirements))
    assert record.valid, record.reason
    return record.score


def _finite_numbers(reward: dict[str, Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in reward.values())


@pytest.mark.slow
def test_the_exported_verifier_gives_our_score_for_the_reference(exported: Exported) -> None:
    reward, said = exported.trial("bash /solution/solve.sh && bash /tests/test.sh")
    assert "harbor-shim: sandbox uid" in said  # no namespaces in a default podman container: the fallback
    assert _finite_numbers(reward) and reward["valid"] == 1.0 and reward["metric"] == 41.0
    assert abs(reward["score"] - _our_score(find_task("sorting_network").solution_dir)) <= 0.02


@pytest.mark.slow
def test_the_exported_verifier_scores_the_untouched_baseline_near_zero(exported: Exported) -> None:
    reward, _ = exported.trial("bash /tests/test.sh")
    assert _finite_numbers(reward) and reward["valid"] == 1.0 and reward["metric"] == 66.0
    ours = _our_score(find_task("sorting_network").environment_dir)
    assert reward["score"] <= 0.02 and abs(reward["score"] - ours) <= 0.02


# --------------------------------------------------------------------------- the uid backend


_UID_CHECKS = r"""
import json, os, secrets, shutil, sys, tempfile, time
from pathlib import Path
from autolab_mcp.core.sandbox.base import ExecRequest, Limits, Mount, SandboxError
from autolab_mcp.core.sandbox.uid import NOBODY_UID, UidBackend

def reachable(prefix, owner=NOBODY_UID):
    d = Path(tempfile.mkdtemp(prefix=f"autolab-uid-test-{prefix}-", dir="/tmp"))
    d.chmod(0o755)
    os.chown(d, owner, owner)
    return d

def alive(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in open(f"/proc/{pid}/cmdline", "rb").read() and int(pid) != os.getpid():
                found.append(int(pid))
        except OSError:
            pass
    return found

tag = secrets.token_hex(4)
workdir, out_target, marker = f"/autolab-uid-test-{tag}-ws", f"/autolab-uid-test-{tag}-out", f"autolab-uid-{tag}"
backend, ws, out, pristine = UidBackend(), reachable("ws"), reachable("out"), reachable("ro", owner=0)
secret = reachable("secret", owner=0) / "secret"
secret.write_text("TOPSECRET")
secret.chmod(0o600)
report = {}

r = backend.run(ExecRequest(command=f"id -u; id -g; id -G; pwd; echo made > {out_target}/made; cat {secret}; "
                            "echo cat=$?", workspace=ws, workdir=workdir,
                            mounts=[Mount(source=out, target=out_target, read_only=False)]))
report["ids"] = r.output_tail.splitlines()[:4]
report["secret_shown"] = "TOPSECRET" in r.output_tail
report["cat_failed"] = "cat=1" in r.output_tail
report["made"] = (out / "made").read_text()
report["links_gone"] = not os.path.lexists(workdir) and not os.path.lexists(out_target)

tree = (f"python3 -c 'import time; time.sleep(1000)' {marker} &\n"
        "python3 -c 'import os, time\nif os.fork(): os._exit(0)\nos.setsid()\nif os.fork(): os._exit(0)\n"
        f"time.sleep(1000)' {marker}\nsleep 1000")
started = time.monotonic()
r = backend.run(ExecRequest(command=tree, workspace=ws, workdir=workdir, limits=Limits(wall_sec=1.0)))
report["timeout"] = {"timed_out": r.timed_out, "killed_by": r.killed_by, "seconds": time.monotonic() - started,
                     "survivors": alive(marker)}

r = backend.run(ExecRequest(command=f"python3 -c 'import time; time.sleep(1000)' {marker}-bg & echo done",
                            workspace=ws, workdir=workdir))
report["background"] = {"exit": r.exit_code, "survivors": alive(marker)}

r = backend.run(ExecRequest(command="python3 -c 'import threading; threading.Thread(target=print).start()'",
                            workspace=ws, workdir=workdir, forbid_threads=True))
report["threads_refused"] = r.exit_code != 0 and "can't start new thread" in r.output_tail

(pristine / "rules.txt").write_text("pristine")
(ws / "rules.txt").write_text("pristine")
r = backend.run(ExecRequest(command="echo x > rules.txt; rm -f rules.txt; mv rules.txt moved; cat rules.txt",
                            workspace=ws, workdir=workdir, read_only_paths=["rules.txt"], read_only_root=pristine))
report["read_only_kept"] = (ws / "rules.txt").read_text() == "pristine" and not (ws / "moved").exists()

for key, mount in (("real_dir_refused", Mount(source=out, target=str(secret.parent), read_only=False)),
                   ("writable_read_only_refused", Mount(source=out, target=out_target))):
    try:
        backend.run(ExecRequest(command="true", workspace=ws, workdir=workdir, mounts=[mount]))
        report[key] = ""
    except SandboxError as exc:
        report[key] = str(exc)
report["refusals_left_nothing"] = not os.path.lexists(workdir) and not os.path.lexists(out_target)
for directory in (ws, out, pristine, secret.parent):
    shutil.rmtree(directory)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def uid_report() -> dict[str, Any]:
    """The uid backend's checks, in a process of their own: the backend makes its process a child
    subreaper and kills by uid, which must not touch the test session."""
    if os.geteuid() != 0:
        pytest.skip("the uid backend needs root (it drops each command to an unprivileged uid)")
    done = subprocess.run([sys.executable, "-c", _UID_CHECKS], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_uid_backend_runs_as_nobody_and_cannot_read_a_root_only_file(uid_report: dict[str, Any]) -> None:
    uid, gid, groups, cwd = uid_report["ids"]
    assert (uid, gid, groups) == ("65534", "65534", "65534") and cwd.startswith("/autolab-uid-test-")
    assert uid_report["cat_failed"] and not uid_report["secret_shown"]
    assert uid_report["made"] == "made\n" and uid_report["links_gone"]


def test_the_uid_backend_kills_the_process_group_and_escapees_at_the_timeout(uid_report: dict[str, Any]) -> None:
    timeout = uid_report["timeout"]
    assert timeout["timed_out"] and timeout["killed_by"] == "timeout" and timeout["seconds"] < 5
    assert timeout["survivors"] == []
    assert uid_report["background"] == {"exit": 0, "survivors": []}


def test_the_uid_backend_enforces_seccomp_and_read_only_paths(uid_report: dict[str, Any]) -> None:
    assert uid_report["threads_refused"] and uid_report["read_only_kept"]
    assert "never replaces a real file or a non-empty directory" in uid_report["real_dir_refused"]
    assert "cannot be made read-only here" in uid_report["writable_read_only_refused"]
    assert uid_report["refusals_left_nothing"]
