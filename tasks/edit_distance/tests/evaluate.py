"""Hidden evaluation of edit_distance (runs in the trusted scorer, never in a sandbox).

A hidden batch of string pairs, drawn afresh for every evaluation from the scorer's secret
seed (`ctx.seed`), is written to /inputs/pairs/pairs.txt. Baseline and candidate `solve.py`
are timed against each other with interleaved pairs; every run's /output/distances.txt must
equal the distances computed here, outside the sandbox, by a trusted implementation, under the
task's output rules (environment/distance_rules.py, the pristine copy of what check.py imports).
Metric: the candidate's median seconds; the score comes from the measured speedup.

Reasons are fixed phrases (REASONS): a wrong distance, a line number or a line count would
let a candidate choose what the agent reads (`line 22: wrong distance 361123` carried a hidden
value out); those values go to the measurement's details, which only the signed record keeps.
"""

from __future__ import annotations

from edit_distance_hidden import generate, levenshtein

from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_rules_module

rules = load_rules_module(__file__, "distance_rules.py")

PAIRS = 160  # both splits; the baseline takes about 1.5-2 s on the scorer machine
#: the public split's seed (environment/make_data.py): a hidden batch never uses it
PUBLIC_SEEDS = frozenset({20240601})
RUN_TIMEOUT_SEC = 10.0  # keeps the worst case (a slow candidate) under 90 s per evaluation
MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "python solve.py /inputs/pairs/pairs.txt /output/distances.txt"

VALID = "all distances exact"
REASONS = rules.REASONS | {VALID}


def hidden_pairs(seed: int, count: int = PAIRS) -> list[tuple[str, str]]:
    """The hidden batch of one evaluation: `count` pairs from the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return generate(seed, count)


def evaluate(ctx: EvalContext) -> Measurement:
    pairs = hidden_pairs(ctx.seed)
    expected = [levenshtein(a, b) for a, b in pairs]
    inputs = ctx.input_dir("pairs")
    (inputs / "pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))

    def check(out: RunOutput) -> None:
        try:
            rules.check_distances(out.read(rules.OUTPUT, MAX_OUTPUT_BYTES), expected)
        except rules.RuleError as error:
            raise Invalid.from_rule(error, pairs=len(pairs), split=ctx.split) from None

    timing = ctx.time(COMMAND, inputs={"pairs": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC)
    return Measurement.timed(timing, VALID, pairs=len(pairs), split=ctx.split)
