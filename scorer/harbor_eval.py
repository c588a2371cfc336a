"""The generic evaluation of a task imported from Harbor/AutoLab (`autolab-mcp import harbor`).

The task's untouched `tests/test.sh` runs in a fresh scorer sandbox over a pristine copy of the
workspace with the submitted editable files (at the task's workdir, e.g. /app), its tests at /tests,
the hidden build outputs (/orig, a test split under /data, ...) at their paths and an empty
/logs/verifier; then the reward it wrote is read here, on the scorer side (scorer/harbor_reward.py).
Its exit code and output are never shown: only the reward's numbers count.

A timing task (AutoLab's T kind: `[autolab.harbor] timed_command`) is re-timed here: the verifier's
reward only says whether the submission is valid (its seconds come from another machine), then the
command is timed baseline against candidate with interleaved pairs on the timing core.

Whether that reward can be trusted is the importer's call, recorded in `[autolab.harbor] trusted`:
when candidate code runs where the verifier writes its reward, a submission can write the reward
itself, and such a task is flagged for review in every record (scorer/review.py) and refused by
`eval` unless the operator allows it.
"""

from __future__ import annotations

import hashlib

from autolab_mcp.core.sandbox.base import Mount
from scorer import harbor_reward
from scorer.harness import EvalContext, Invalid, Measurement, RunOutput

#: inside the task's hidden tests/: the original tests/ and the build's hidden outputs by top directory
HARBOR_DIR = "harbor"
TESTS = "tests"
ROOTFS = "rootfs"
STDOUT = "stdout.txt"
MAX_STDOUT_BYTES = 16 * 1024 * 1024

VERIFIED = "the verifier reported a metric"
VERIFIER_FAILED = "the verifier did not finish"
TIMED = "the verifier passed the submission and our scorer timed it"
BUILD_FAILED = "the build command failed"
STDOUT_DIFFERS = "the timed command's output differs from the baseline's"
REASONS = harbor_reward.REASONS | {VERIFIED, VERIFIER_FAILED, TIMED, BUILD_FAILED, STDOUT_DIFFERS, STDOUT}


def _hidden_mounts(ctx: EvalContext, read_only: bool) -> list[Mount]:
    """The build's hidden outputs at their paths (/orig, /data, ...): fresh copies for the verifier,
    the pristine ones read-only for timed runs."""
    rootfs = ctx.hidden_dir / HARBOR_DIR / ROOTFS
    tops = sorted(rootfs.iterdir()) if rootfs.is_dir() else []
    if read_only:
        return [Mount(source=top, target=f"/{top.name}") for top in tops]
    return [Mount(source=ctx.writable_dir(f"rootfs-{top.name}", copy_of=top), target=f"/{top.name}", read_only=False)
            for top in tops]


def _verify(ctx: EvalContext) -> tuple[float, dict]:
    """Run the untouched test.sh over the candidate; its reward's metric and numbers, or Invalid."""
    harbor = ctx.task.config.autolab.harbor
    assert harbor is not None
    verifier = ctx.writable_dir("logs-verifier")
    mounts = [Mount(source=ctx.writable_dir("tests", copy_of=ctx.hidden_dir / HARBOR_DIR / TESTS), target="/tests",
                    read_only=False),
              Mount(source=verifier, target="/logs/verifier", read_only=False),
              Mount(source=ctx.writable_dir("logs-agent"), target="/logs/agent", read_only=False),
              Mount(source=ctx.writable_dir("logs-artifacts"), target="/logs/artifacts", read_only=False),
              *_hidden_mounts(ctx, read_only=False)]
    out = ctx.run("bash /tests/test.sh > /logs/verifier/test-stdout.txt 2>&1", mounts=mounts,
                  timeout_sec=harbor.verifier_timeout_sec)
    if out.timed_out or out.oom_killed:
        raise Invalid(f"{VERIFIER_FAILED}: {out.failure()}")
    mapping = harbor_reward.RewardMap(metric_key=harbor.metric_key, valid_key=harbor.valid_key)
    metric, details = harbor_reward.read_reward(verifier, mapping, valid_only=harbor.timed_command is not None)
    details["verifier_exit_code"] = out.exit_code
    return metric, details


def _retime(ctx: EvalContext, details: dict) -> Measurement:
    """A timing task: build each side once, then time the command with interleaved pairs, every run's
    stdout held to the baseline's (a candidate that skips the work when it is not being verified fails)."""
    harbor = ctx.task.config.autolab.harbor
    assert harbor is not None and harbor.timed_command
    timeout = harbor.verifier_timeout_sec
    if harbor.build_command:
        for which in ("candidate", "baseline"):
            built = ctx.run(harbor.build_command, which=which, timeout_sec=timeout, in_place=True,
                            mounts=_hidden_mounts(ctx, read_only=True))
            if not built.ok():
                raise Invalid(f"{which}: {BUILD_FAILED}", exit_code=built.exit_code)
    command = f"{{ {harbor.timed_command} ; }} > /output/{STDOUT}"
    mounts = _hidden_mounts(ctx, read_only=True)
    first = ctx.run(command, which="baseline", timeout_sec=timeout, mounts=mounts).require_ok("baseline")
    expected = hashlib.sha256(first.read(STDOUT, MAX_STDOUT_BYTES)).hexdigest()

    def same_output(out: RunOutput) -> None:
        if hashlib.sha256(out.read(STDOUT, MAX_STDOUT_BYTES)).hexdigest() != expected:
            raise Invalid(STDOUT_DIFFERS)

    timing = ctx.time(command, check=same_output, timeout_sec=timeout, mounts=mounts)
    return Measurement.timed(timing, TIMED, verifier=details)


def evaluate(ctx: EvalContext) -> Measurement:
    harbor = ctx.task.config.autolab.harbor
    if harbor is None:
        raise RuntimeError(f"task {ctx.task.name} has no [autolab.harbor] section: not an imported task")
    metric, details = _verify(ctx)
    if harbor.timed_command:
        return _retime(ctx, details)
    return Measurement(valid=True, metric=metric, reason=VERIFIED, details=details)
