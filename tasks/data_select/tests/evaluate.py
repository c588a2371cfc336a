"""Hidden evaluation for data_select (runs in the trusted scorer, never in a sandbox).

1. Run the candidate's select.py in a sandbox: `python select.py /output`.
2. Read /output/selection.npy defensively (gate: 1..2000 distinct valid indices).
3. Train the pristine trainer (the task's own environment/trainer.py, never the
   candidate's copy) on the pristine pool rows, outside the sandbox.
4. Accuracy on a hidden target-distribution test set drawn fresh for this evaluation from
   ctx.seed (scorer/seeds.py): no two runs share a test set, none is the public one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_select_gen import POOL_SIZE, sample

from scorer.harness import EvalContext, Measurement, load_npy, load_pristine_module

#: 200,000 test examples: the reference's accuracy has a sampling sd of about 0.001 (0.006 normalized;
#: with 20,000 it was 0.003, 0.018 normalized, and the stored final draw was 0.008 above its mean)
TEST_SIZE = 200_000
#: mixed into every hidden seed, so a hidden test set can never be the public pool's or val's stream
#: (those are numpy default_rng(small int); this entropy is three 32-bit words, never one)
DOMAIN = 0x64617461
BUDGET = 2000
SELECT_TIMEOUT_SEC = 60
MAX_FILE_BYTES = 1_000_000

SELECT_FAILED = "select.py failed"
NO_SELECTION = "select.py wrote no /output/selection.npy"
NOT_1D = "selection must be a 1-D array"
NOT_INTEGER = "selection must hold integers"
EMPTY = "selection is empty"
TOO_MANY = "selection has more indices than the budget allows (at most 2000 allowed)"
OUT_OF_RANGE = "selection holds indices outside the pool [0, 30000)"
REPEATS = "selection repeats indices (all must be distinct)"
MEASURED = "accuracy measured on the hidden test set"

REASONS = frozenset({SELECT_FAILED, NO_SELECTION, NOT_1D, NOT_INTEGER, EMPTY, TOO_MANY, OUT_OF_RANGE, REPEATS,
                     MEASURED})
assert BUDGET == 2000 and POOL_SIZE == 30_000, "the fixed phrases above name these task constants"


def hidden_test_set(seed: int, n: int = TEST_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """This evaluation's test set: n target-distribution examples (clean labels) from its secret seed."""
    return sample(np.random.default_rng(np.random.SeedSequence([DOMAIN, seed])), n)


def read_selection(path: Path) -> tuple[np.ndarray | None, str, dict]:
    """(int64 indices, "", details) or (None, fixed reason, details: the values behind it)."""
    sel, why = load_npy(path, MAX_FILE_BYTES, missing=NO_SELECTION)
    if sel is None:
        return None, why, {}
    if sel.ndim != 1:
        return None, NOT_1D, {"shape": list(sel.shape)}
    if not np.issubdtype(sel.dtype, np.integer):
        return None, NOT_INTEGER, {"dtype": str(sel.dtype)}
    if len(sel) == 0:
        return None, EMPTY, {}
    if len(sel) > BUDGET:
        return None, TOO_MANY, {"selected": len(sel)}
    sel = sel.astype(np.int64)
    if sel.min() < 0 or sel.max() >= POOL_SIZE:
        return None, OUT_OF_RANGE, {"min": int(sel.min()), "max": int(sel.max())}
    distinct = len(np.unique(sel))
    if distinct != len(sel):
        return None, REPEATS, {"duplicates": len(sel) - distinct}
    return sel, "", {}


def evaluate(ctx: EvalContext) -> Measurement:
    # pinned on the leased timing core: load elsewhere on the host cannot eat into the 60 s limit
    out = ctx.run("python select.py /output", timeout_sec=SELECT_TIMEOUT_SEC, pin=True)
    if failure := out.failure():
        return Measurement(valid=False, reason=f"{SELECT_FAILED}: {failure}",
                           details={"exit_code": out.exit_code, "select_seconds": round(out.duration_sec, 2)})
    sel, reason, details = read_selection(out.output_dir / "selection.npy")
    if sel is None:
        return Measurement(valid=False, reason=reason, details=details)
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
