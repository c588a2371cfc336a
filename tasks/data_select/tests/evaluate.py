"""Hidden evaluation for data_select (runs in the trusted scorer, never in a sandbox).

1. Run the candidate's select.py in a sandbox: `python select.py /output`.
2. Read /output/selection.npy defensively (gate: 1..2000 distinct valid indices).
3. Train the pristine trainer (the task's own environment/trainer.py, never the
   candidate's copy) on the pristine pool rows, outside the sandbox.
4. Accuracy on a hidden target-distribution test set generated here from the split's seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_select_gen import POOL_SIZE, target_set

from scorer.harness import EvalContext, Measurement, load_npy, load_pristine_module

SEEDS = {"feedback": 910_001, "final": 920_002}
TEST_SIZE = 20_000
BUDGET = 2000
SELECT_TIMEOUT_SEC = 60
MAX_FILE_BYTES = 1_000_000


def read_selection(path: Path) -> tuple[np.ndarray | None, str]:
    """The selection as int64 indices, or (None, reason)."""
    sel, why = load_npy(path, MAX_FILE_BYTES, missing="select.py wrote no /output/selection.npy")
    if sel is None:
        return None, why
    if sel.ndim != 1:
        return None, f"selection must be a 1-D array, got shape {getattr(sel, 'shape', None)}"
    if not np.issubdtype(sel.dtype, np.integer):
        return None, f"selection must hold integers, got dtype {sel.dtype}"
    if len(sel) == 0:
        return None, "selection is empty"
    if len(sel) > BUDGET:
        return None, f"selection has {len(sel)} indices; at most {BUDGET} allowed"
    sel = sel.astype(np.int64)
    if sel.min() < 0 or sel.max() >= POOL_SIZE:
        return None, f"selection holds indices outside [0, {POOL_SIZE})"
    if len(np.unique(sel)) != len(sel):
        return None, f"selection repeats indices ({len(sel) - len(np.unique(sel))} duplicates); all must be distinct"
    return sel, ""


def evaluate(ctx: EvalContext) -> Measurement:
    # pinned on the leased timing core: load elsewhere on the host cannot eat into the 60 s limit
    out = ctx.run("python select.py /output", timeout_sec=SELECT_TIMEOUT_SEC, pin=True)
    if out.failure():
        return Measurement(valid=False, reason=f"select.py failed: {out.failure()}")
    sel, reason = read_selection(out.output_dir / "selection.npy")
    if sel is None:
        return Measurement(valid=False, reason=reason)
    trainer = load_pristine_module(ctx, "trainer.py")
    X, y, source = trainer.load_pool(str(ctx.task.environment_dir / "data" / "pool.npz"))
    model = trainer.train(X[sel], y[sel])
    Xt, yt = target_set(SEEDS[ctx.split], TEST_SIZE)
    accuracy = float((trainer.predict(model, Xt) == yt).mean())
    per_source = np.bincount(source[sel], minlength=int(source.max()) + 1)
    return Measurement(
        valid=True, metric=accuracy, reason="",
        details={"selected": len(sel), "per_source": [int(c) for c in per_source],
                 "select_seconds": round(out.duration_sec, 2), "test_size": TEST_SIZE},
    )
