"""Hidden evaluation of sort_kv64 (runs in the trusted scorer, never in a sandbox).

1. The pristine build.sh compiles the candidate and the baseline, each once, in its own sandbox
   (untimed; scorer/native.py), and the binary goes into that side's workspace copy, so the timed
   runs measure sorting only.
2. A hidden input of N records, drawn afresh for every evaluation from the scorer's secret seed
   (`ctx.seed`, never the public seed) with the public generator (environment/kv_rules.py, the
   pristine copy), goes to /inputs/data/input.bin. The scorer computes the stable sort by key
   itself, outside the sandbox (numpy's stable argsort), and every timed run's /output/sorted.bin
   must equal it byte for byte; kv_rules.check_output says how a wrong one differs.
3. Baseline and candidate are timed in interleaved pairs pinned to the timing core, every timed run
   with forbid_threads (seccomp: thread creation fails). Metric: the candidate's median seconds;
   the score comes from the measured speedup.

Reasons are fixed phrases (REASONS); indexes, counts, keys and sizes go to the details.
"""

from __future__ import annotations

from scorer import native
from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_rules_module

rules = load_rules_module(__file__, "kv_rules.py")

N = rules.N  # the qsort baseline takes about 0.75 s on the scorer machine
#: the public inputs' seed (make_input.py, check.py): a hidden input never uses it
PUBLIC_SEEDS = frozenset({rules.PUBLIC_SEED})
RUN_TIMEOUT_SEC = 6.0  # keeps the worst case (a slow candidate) near a minute per evaluation
PROGRAM = "kvsort"
COMMAND = "./kvsort /inputs/data/input.bin /output/sorted.bin"

VALID = "output identical to the stable sort of the input by key in every run"
REASONS = rules.REASONS | native.REASONS | {VALID}


def hidden_input(seed: int, n: int = N) -> bytes:
    """The hidden input of one evaluation: the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return rules.generate(seed, n)


def evaluate(ctx: EvalContext) -> Measurement:
    binaries = native.build_both(ctx, PROGRAM)
    data = hidden_input(ctx.seed)
    expected = rules.expected_output(data)
    inputs = ctx.input_dir("data")
    (inputs / "input.bin").write_bytes(data)
    del data

    def check(out: RunOutput) -> None:
        # one record too many still reads (and is "not the size of the input"); more is "too large"
        got = out.read(rules.OUTPUT, len(expected) + rules.RECORD_BYTES)
        try:
            rules.check_output(got, expected)
        except rules.RuleError as error:
            raise Invalid.from_rule(error, n=N, split=ctx.split) from None

    timing = ctx.time(COMMAND, inputs={"data": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC,
                      forbid_threads=True)
    return Measurement.timed(timing, VALID, n=N, split=ctx.split, binary_bytes=binaries)
