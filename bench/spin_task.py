"""`spin`: a small synthetic *faster* task for tests and benches of the scorer under attack.

The bundled timed tasks take 20-50 s per evaluation; spin takes a few: solve.py sums i*i below a
hidden n (drawn per run from the scorer's secret seed) in a Python loop, about 0.2 s; the reference
uses the closed form. Written to a directory on demand (it is not a bundled task).
"""

from __future__ import annotations

import os
from pathlib import Path

TOML = """\
version = "1.0"
[metadata]
axis = "faster"
description = "Synthetic test task: sum of squares below a hidden n."
[environment]
cpus = 1
memory_mb = 512
requirements = []
[optimization]
metric = "runtime_seconds"
direction = "lower"
[optimization.baseline]
score = 0.3
method = "a Python loop over n (about 0.2-0.3 s)"
[optimization.reference]
score = 0.06
method = "the closed form n(n-1)(2n-1)/6"
[autolab]
editable = ["solve.py"]
scale = "log"
timing_core = true
experiment_timeout_sec = 300
eval_timeout_sec = 120
[autolab.budget]
compute_sec = 1800
experiments = 20
score_calls = {score_calls}
"""

BASELINE = """\
import sys
n = int(open(sys.argv[1]).read())
total = 0
for i in range(n):
    total += i * i
open(sys.argv[2], "w").write(str(total))
"""

REFERENCE = """\
import sys
n = int(open(sys.argv[1]).read())
open(sys.argv[2], "w").write(str(n * (n - 1) * (2 * n - 1) // 6))
"""

EVALUATE = '''
from scorer.harness import EvalContext, Measurement, RunOutput, read_regular_file

WRONG = "wrong sum"
VALID = "sum exact"
REASONS = frozenset({"out.txt", WRONG, VALID})


def hidden_n(seed: int) -> int:
    return 1_200_000 + seed % 200_000


def evaluate(ctx: EvalContext) -> Measurement:
    n = hidden_n(ctx.seed)
    inputs = ctx.input_dir("data")
    (inputs / "n.txt").write_text(str(n))
    expected = str(n * (n - 1) * (2 * n - 1) // 6).encode()

    def check(out: RunOutput) -> str | None:
        data, reason = read_regular_file(out.output_dir / "out.txt", 100)
        if data is None:
            return f"out.txt: {reason}"
        return None if data.strip() == expected else WRONG

    timing, reason = ctx.time_pair("python solve.py /inputs/data/n.txt /output/out.txt", inputs={"data": inputs},
                                   check=check, timeout_sec=20)
    if timing is None:
        return Measurement(valid=False, reason=reason or "timing failed", details={"n": n})
    return Measurement(valid=True, metric=sorted(timing.candidate_sec)[2], timing=timing, reason=VALID)
'''


def write_spin_task(root: Path, score_calls: int = 10) -> Path:
    """The task directory at root (created), readable by the sandbox uids."""
    files = {"task.toml": TOML.replace("{score_calls}", str(score_calls)),
             "instruction.md": "# spin\n\nMake `solve.py` faster; its output must stay exact.\n",
             "environment/solve.py": BASELINE, "solution/solve.py": REFERENCE, "tests/evaluate.py": EVALUATE}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.chmod(root.parent, 0o755)
    return root
