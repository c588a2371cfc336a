"""The verifier of a task exported to Harbor (`autolab-mcp export harbor`): our own evaluation, in Harbor's container.

    python3 -m scorer.harbor_shim TASK_DIR SUBMISSION_DIR LOG_DIR     # test.sh: /tests/tasks/NAME /app /logs/verifier

Harbor's test.sh contract is "write /logs/verifier/reward.json"; ours is evaluate_submission over a
pristine copy of the task plus the editable files. This joins them: the editable files are taken
from SUBMISSION_DIR (regular files only, as the scorer takes a submission), evaluated on the final
split with a fresh secret seed, and the record becomes a flat reward of finite numbers
({"score", "valid", "metric"}; a missing or non-finite number is left out, never written as null).
The whole signed-free record goes next to it (record.json) for a person to read.

Candidate code runs in bwrap when bwrap works in this container (rare: it needs namespaces), else
in the uid backend (autolab_mcp/core/sandbox/uid.py: an unprivileged uid, rlimits, no namespaces),
which is acceptable only because a Harbor verifier container is thrown away afterwards. stdout says
which. Before anything runs, the hidden task is sealed (root-only) and LOG_DIR loses its group and other
write bits (its mode is put back at the end), so the candidate's uid can neither read the hidden tests
nor write the reward.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import stat
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import SCORER_UID, ExecRequest, SandboxBackend, SandboxError
from autolab_mcp.core.sandbox.cgroups import REQUIRE_ENV
from autolab_mcp.core.sandbox.uid import NOBODY_UID
from autolab_mcp.core.taskspec import Task, load_task
from scorer.evaluate import evaluate_submission

#: forces the sandbox: "bwrap" or "uid" (default: bwrap when it works here, else uid)
SANDBOX_ENV = "AUTOLAB_HARBOR_SANDBOX"
UID_GAP = ("uid sandbox (no namespaces): candidate code shares this container's filesystem, /tmp, processes "
           "and network view, confined only by an unprivileged uid and rlimits; sound only in a disposable "
           "verifier container")


def _bwrap(probe_dir: Path) -> tuple[SandboxBackend | None, str]:
    """A bwrap backend if one really runs a command here, else (None, why not)."""
    os.environ.pop(REQUIRE_ENV, None)  # no experiments run beside a verifier: rlimits are enough
    try:
        from autolab_mcp.core.sandbox.bwrap import BwrapBackend

        backend = BwrapBackend()
        result = backend.run(ExecRequest(command="true", workspace=probe_dir, uid=SCORER_UID, fake_file_locks=True))
    except (SandboxError, OSError) as exc:
        return None, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if result.exit_code != 0:
        return None, f"a probe exited {result.exit_code}: {result.output_tail.strip()[-300:]}"
    return backend, f"limits {backend.limits_mode}"


def pick_backend(scratch: Path) -> tuple[SandboxBackend, str, list[str]]:
    """(backend, what stdout says, isolation gaps for the record)."""
    forced = os.environ.get(SANDBOX_ENV, "")
    if forced not in ("", "bwrap", "uid"):
        raise SystemExit(f"{SANDBOX_ENV} must be bwrap or uid, not {forced!r}")
    why = f"{SANDBOX_ENV}=uid"
    if forced != "uid":
        probe = scratch / "probe"
        probe.mkdir(mode=0o755)
        backend, why = _bwrap(probe)
        if backend is not None:
            from autolab_mcp.core.sandbox.isolation import isolation_gaps

            return backend, f"bwrap ({why})", isolation_gaps("bwrap")
        if forced == "bwrap":
            raise SystemExit(f"{SANDBOX_ENV}=bwrap but bwrap does not work here: {why}")
    from autolab_mcp.core.sandbox.uid import UidBackend

    return UidBackend(), f"uid (bwrap unavailable: {why})", [UID_GAP]


def _seal(task: Task, log_dir: Path) -> int | None:
    """The hidden task root-only; LOG_DIR not writable by the sandbox uids (its owner, Harbor's trial
    directory on the host, keeps it). Returns LOG_DIR's mode to put back once the reward is written."""
    os.chown(task.root, 0, 0)
    os.chmod(task.root, 0o700)
    try:
        st = os.stat(log_dir)
        if st.st_uid in (SCORER_UID, NOBODY_UID):
            os.chown(log_dir, 0, 0)
        os.chmod(log_dir, stat.S_IMODE(st.st_mode) & ~0o022)
        return stat.S_IMODE(st.st_mode)
    except OSError as exc:  # a mount we may not change: the reward is still written last, by rename
        print(f"harbor-shim: cannot keep the sandbox out of {log_dir} ({exc})")
        return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def reward_of(record: dict[str, Any]) -> dict[str, float]:
    """The flat reward Harbor accepts: finite numbers only, a key left out rather than null."""
    reward = {"score": _finite(record.get("score")) or 0.0, "valid": 1.0 if record.get("valid") else 0.0}
    if (metric := _finite(record.get("metric"))) is not None:
        reward["metric"] = metric
    speedup = _finite((record.get("details") or {}).get("speedup"))
    if speedup is not None:
        reward["speedup"] = speedup
    return reward


def _write_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _move_aside(workdir: str) -> None:
    """The uid backend maps the task's workdir by a symlink: a real directory there (a task whose workdir
    is the submission's /app) moves aside, after the submission was read."""
    path = Path(workdir)
    if path.is_dir() and not path.is_symlink() and any(path.iterdir()):
        os.rename(path, f"{workdir}.submitted-{secrets.token_hex(3)}")


def verify(task_dir: Path, submission: Path, log_dir: Path) -> dict[str, float]:
    task = load_task(task_dir)
    log_mode = _seal(task, log_dir)
    archive = tar_directory_files(submission, editable_files(submission, task.config.autolab.editable))
    scratch = Path(tempfile.mkdtemp(prefix="autolab-verify-"))
    os.chmod(scratch, 0o711)  # the sandbox uid may pass, never list: the run directories' names stay unknown
    try:
        backend, said, gaps = pick_backend(scratch)
        print(f"harbor-shim: sandbox {said}", flush=True)
        if backend.name == "uid":
            _move_aside(task.config.autolab.workdir)
        runtime = ensure_runtime(task.config.environment.requirements)
        common: dict[str, Any] = {"backend": backend, "runtime": runtime, "scratch_root": scratch,
                                  "request_id": secrets.token_hex(8), "seed_secret": secrets.token_bytes(32),
                                  "isolation_gaps": gaps}
        if task.needs_timing_core:
            with lease_timing_core(task.config.autolab.eval_timeout_sec * 4) as lease:
                record = evaluate_submission(task, "final", archive, cpu=lease.core, **common)
        else:
            record = evaluate_submission(task, "final", archive, cpu=None, **common)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    doc = record.model_dump(mode="json")
    _write_json(log_dir / "record.json", doc)
    reward = reward_of(doc)
    _write_json(log_dir / "reward.json", reward)
    if log_mode is not None:
        os.chmod(log_dir, log_mode)
    print(f"harbor-shim: {task.name}: valid={record.valid} metric={record.metric} score={record.score:.4f} "
          f"reason: {record.reason}", flush=True)
    return reward


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scorer.harbor_shim", description=__doc__.split("\n\n")[0])
    parser.add_argument("task_dir", type=Path, help="the pristine task (the export's tests/tasks/NAME)")
    parser.add_argument("submission", type=Path, help="where the editable files are (the workdir, /app)")
    parser.add_argument("log_dir", type=Path, help="where reward.json goes (/logs/verifier)")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        verify(args.task_dir, args.submission, args.log_dir)
    except Exception:
        traceback.print_exc()
        _write_json(args.log_dir / "reward.json", {"score": 0.0, "valid": 0.0})
        print("harbor-shim: the evaluation could not run (above); reward 0", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
