"""The generic evaluation of a task imported from Harbor/AutoLab (`autolab-mcp import harbor`).

The task's untouched `tests/test.sh` runs in a fresh scorer sandbox over a pristine copy of the
workspace with the submitted editable files (at the task's workdir, e.g. /app), its tests at /tests,
the hidden build outputs (/orig, a test split under /data, ...) at their paths and an empty
/logs/verifier; then the reward it wrote is read here, on the scorer side (scorer/harbor_reward.py).
Its exit code and output are never shown: only the reward's numbers count.

Whether that reward can be trusted is the importer's call, recorded in `[autolab.harbor] trusted`:
when candidate code runs where the verifier writes its reward, a submission can write the reward
itself, and such a task is flagged for review in every record (scorer/review.py) and refused by
`eval` unless the operator allows it.
"""

from __future__ import annotations

from autolab_mcp.core.sandbox.base import Mount
from scorer import harbor_reward
from scorer.harness import EvalContext, Invalid, Measurement

#: inside the task's hidden tests/: the original tests/ and the build's hidden outputs by top directory
HARBOR_DIR = "harbor"
TESTS = "tests"
ROOTFS = "rootfs"

VERIFIED = "the verifier reported a metric"
VERIFIER_FAILED = "the verifier did not finish"
REASONS = harbor_reward.REASONS | {VERIFIED, VERIFIER_FAILED}


def evaluate(ctx: EvalContext) -> Measurement:
    harbor = ctx.task.config.autolab.harbor
    if harbor is None:
        raise RuntimeError(f"task {ctx.task.name} has no [autolab.harbor] section: not an imported task")
    source = ctx.hidden_dir / HARBOR_DIR
    verifier = ctx.writable_dir("logs-verifier")
    mounts = [Mount(source=ctx.writable_dir("tests", copy_of=source / TESTS), target="/tests", read_only=False),
              Mount(source=verifier, target="/logs/verifier", read_only=False),
              Mount(source=ctx.writable_dir("logs-agent"), target="/logs/agent", read_only=False),
              Mount(source=ctx.writable_dir("logs-artifacts"), target="/logs/artifacts", read_only=False)]
    rootfs = source / ROOTFS
    for top in sorted(rootfs.iterdir()) if rootfs.is_dir() else []:
        mounts.append(Mount(source=ctx.writable_dir(f"rootfs-{top.name}", copy_of=top), target=f"/{top.name}",
                            read_only=False))
    out = ctx.run("bash /tests/test.sh > /logs/verifier/test-stdout.txt 2>&1", mounts=mounts,
                  timeout_sec=harbor.verifier_timeout_sec)
    if out.timed_out or out.oom_killed:
        raise Invalid(f"{VERIFIER_FAILED}: {out.failure()}")
    mapping = harbor_reward.RewardMap(metric_key=harbor.metric_key, valid_key=harbor.valid_key)
    metric, details = harbor_reward.read_reward(verifier, mapping)
    details["verifier_exit_code"] = out.exit_code
    return Measurement(valid=True, metric=metric, reason=VERIFIED, details=details)

