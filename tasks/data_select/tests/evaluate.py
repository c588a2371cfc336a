"""Hidden evaluation for data_select (runs in the trusted scorer, never in a sandbox).

1. Run the candidate's select.py in a sandbox: `python select.py /output`.
2. Read /output/selection.npy defensively (gate: 1..2000 distinct valid indices, by the task's
   rules module environment/selection_rules.py, the pristine copy of what check.py imports).
3. Train the pristine trainer (the task's own environment/trainer.py, never the
   candidate's copy) on the pristine pool rows, outside the sandbox.
4. Accuracy on a hidden target-distribution test set drawn fresh for this evaluation from
   ctx.seed (scorer/seeds.py): no two runs share a test set, none is the public one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_select_gen import POOL_SIZE, sample

from scorer.harness import EvalContext, Invalid, Measurement, load_npy, load_pristine_module, load_rules_module

rules = load_rules_module(__file__, "selection_rules.py")

#: 200,000 test examples: the reference's accuracy has a sampling sd of about 0.001 (0.006 normalized;
#: with 20,000 it was 0.003, 0.018 normalized, and the stored final draw was 0.008 above its mean)
TEST_SIZE = 200_000
#: mixed into every hidden seed, so a hidden test set can never be the public pool's or val's stream
#: (those are numpy default_rng(small int); this entropy is three 32-bit words, never one)
DOMAIN = 0x64617461
SELECT_TIMEOUT_SEC = 60
MAX_FILE_BYTES = 1_000_000

SELECT_FAILED = "select.py failed"
NO_SELECTION = "select.py wrote no /output/selection.npy"
MEASURED = "accuracy measured on the hidden test set"

REASONS = rules.REASONS | {SELECT_FAILED, NO_SELECTION, MEASURED}
assert rules.POOL_SIZE == POOL_SIZE, "the rules' pool is the generator's"


def hidden_test_set(seed: int, n: int = TEST_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """This evaluation's test set: n target-distribution examples (clean labels) from its secret seed."""
    return sample(np.random.default_rng(np.random.SeedSequence([DOMAIN, seed])), n)


def read_selection(path: Path) -> np.ndarray:
    """The int64 indices; raises Invalid (a fixed reason, the values behind it in its details)."""
    sel, why = load_npy(path, MAX_FILE_BYTES, missing=NO_SELECTION)
    if sel is None:
        raise Invalid(why)
    try:
        return rules.check_selection(sel)
    except rules.RuleError as error:
        raise Invalid.from_rule(error) from None


def evaluate(ctx: EvalContext) -> Measurement:
    # pinned on the leased timing core: load elsewhere on the host cannot eat into the 60 s limit
    out = ctx.run("python select.py /output", timeout_sec=SELECT_TIMEOUT_SEC, pin=True)
    if failure := out.failure():
        raise Invalid(f"{SELECT_FAILED}: {failure}", exit_code=out.exit_code,
                      select_seconds=round(out.duration_sec, 2))
    sel = read_selection(out.output_dir / "selection.npy")
    trainer = load_pristine_module(ctx, "trainer.py")
    X, y, source = trainer.load_pool(str(ctx.task.environment_dir / "data" / "pool.npz"))
    model = trainer.train(X[sel], y[sel])
    Xt, yt = hidden_test_set(ctx.seed)
    accuracy = float((trainer.predict(model, Xt) == yt).mean())
    per_source = np.bincount(source[sel], minlength=int(source.max()) + 1)
    return Measurement(
        valid=True, metric=accuracy, reason=MEASURED,
        details={"selected": len(sel), "per_source": [int(c) for c in per_source],
                 "select_seconds": round(out.duration_sec, 2), "test_size": TEST_SIZE},
    )
