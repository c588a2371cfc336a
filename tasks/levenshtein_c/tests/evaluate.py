"""Hidden evaluation of levenshtein_c (runs in the trusted scorer, never in a sandbox).

1. The pristine build.sh compiles the baseline and the candidate, each once, in its own sandbox
   (untimed; scorer/native.py), and the binary is installed in that side's workspace copy, so the
   timed runs measure the program alone.
2. A hidden batch of string pairs, drawn afresh for every evaluation from the scorer's secret seed
   (`ctx.seed`, never the public seed) by the public generator (environment/make_input.py, the
   pristine copy), goes to /inputs/pairs/pairs.txt. The scorer computes every distance itself,
   outside the sandbox (environment/lev_rules.py, the pristine copy of what check.py imports).
3. Baseline and candidate are timed against each other with interleaved pairs pinned to the timing
   core, every timed run under forbid_threads (seccomp: thread creation fails); every run's
   /output/distances.txt must be byte-identical to the expected distances.

Reasons are fixed phrases (REASONS); a wrong distance, a line number or a line count go to the
details only.
"""

from __future__ import annotations

from levenshtein_c_hidden import levenshtein

from scorer import native
from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_rules_module

rules = load_rules_module(__file__, "lev_rules.py")
generator = load_rules_module(__file__, "make_input.py")

PAIRS = 500  # both splits; the baseline takes about 1 s on the scorer machine
#: the public input's seed (environment/make_input.py, check.py): a hidden batch never uses it
PUBLIC_SEEDS = frozenset({generator.PUBLIC_SEED})
RUN_TIMEOUT_SEC = 8.0  # keeps the worst case (a slow candidate) under a minute per evaluation
MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "./lev /inputs/pairs/pairs.txt /output/distances.txt"

VALID = "all distances exact in every run"
REASONS = rules.REASONS | native.REASONS | {VALID}


def hidden_pairs(seed: int, count: int = PAIRS) -> list[tuple[str, str]]:
    """The hidden batch of one evaluation: `count` pairs from the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return generator.generate(seed, count)


def expected_distances(pairs: list[tuple[str, str]]) -> list[int]:
    """The trusted answer, computed outside the sandbox."""
    return [levenshtein(a, b) for a, b in pairs]


def evaluate(ctx: EvalContext) -> Measurement:
    binary_bytes = native.build_both(ctx, "lev")
    pairs = hidden_pairs(ctx.seed)
    expected = expected_distances(pairs)
    inputs = ctx.input_dir("pairs")
    (inputs / "pairs.txt").write_text(generator.render(pairs))

    def check(out: RunOutput) -> None:
        try:
            rules.check_distances(out.read(rules.OUTPUT, MAX_OUTPUT_BYTES), expected)
        except rules.RuleError as error:
            raise Invalid.from_rule(error, pairs=len(pairs), split=ctx.split) from None

    timing = ctx.time(COMMAND, inputs={"pairs": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC,
                      forbid_threads=True)
    return Measurement.timed(timing, VALID, pairs=len(pairs), split=ctx.split, binary_bytes=binary_bytes)
