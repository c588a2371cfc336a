"""Hidden evaluation for tiny_lm (runs in the trusted scorer, never in a sandbox).

1. `python run_train.py /output` pinned to one core, hard wall limit 60 s: the
   candidate's lm.train() must save its model to /output in time.
2. Hidden documents for the split come from the hidden grammar (tiny_lm_grammar.py) at a seed
   kept here; ONE random position per document gives a context (left-padded, 128 chars)
   and a target. Only the contexts are mounted.
3. `python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy`
   in a fresh sandbox without data/ (20 s).
4. Outside: probabilities are checked (finite, >= 0, right shape), each row renormalized
   and mixed with 1e-6 uniform; metric = mean -log2 p(target).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
from tiny_lm_grammar import documents

from scorer.harness import EvalContext, Measurement, load_npy, load_pristine_module

SEEDS = {"feedback": 515_151, "final": 525_252}
HIDDEN_DOCS = 4000
TRAIN_TIMEOUT_SEC = 60
PREDICT_TIMEOUT_SEC = 20
MAX_MODEL_BYTES = 200_000_000
MAX_MODEL_FILES = 1000
MAX_PROBS_BYTES = 50_000_000


def copy_model(src: Path, dst: Path) -> str | None:
    """Copy regular files and directories only (never follow a link); None or the reason it failed."""
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in [*dirnames, *filenames]:
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(info.st_mode):
                return f"the model directory holds a symbolic link ({rel / name}); only regular files are allowed"
            if stat.S_ISREG(info.st_mode):
                files += 1
                total += info.st_size
                if total > MAX_MODEL_BYTES or files > MAX_MODEL_FILES:
                    return f"the saved model exceeds {MAX_MODEL_BYTES} bytes or {MAX_MODEL_FILES} files"
            elif not stat.S_ISDIR(info.st_mode):
                return f"{rel / name} in the model directory is not a regular file"
        for name in filenames:
            shutil.copyfile(os.path.join(dirpath, name), dst / rel / name, follow_symlinks=False)
    if files == 0:
        return "training saved nothing to /output"
    return None


def read_probs(path: Path, n: int, v: int) -> tuple[np.ndarray | None, str]:
    probs, why = load_npy(path, MAX_PROBS_BYTES, missing="run_predict.py wrote no probabilities",
                          what="predict() output")
    if probs is None:
        return None, why
    if probs.shape != (n, v):
        return None, f"predict() must return shape ({n}, {v}), got {getattr(probs, 'shape', None)}"
    if probs.dtype.kind != "f":
        return None, f"predict() must return floats, got dtype {probs.dtype}"
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all():
        return None, "predict() returned NaN or infinite probabilities"
    if (probs < 0).any():
        return None, "predict() returned negative probabilities"
    if (probs.sum(axis=1) <= 0).any():
        return None, "predict() returned a row that sums to 0"
    return probs, ""


def evaluate(ctx: EvalContext) -> Measurement:
    lmdata = load_pristine_module(ctx, "lmdata.py")
    train = ctx.run("python run_train.py /output", timeout_sec=TRAIN_TIMEOUT_SEC, pin=True)
    if train.failure():
        return Measurement(valid=False, reason=f"training failed: {train.failure()}")
    model_dir = ctx.input_dir("model")
    problem = copy_model(train.output_dir, model_dir)
    if problem:
        return Measurement(valid=False, reason=problem)
    seed = SEEDS[ctx.split]
    contexts, targets = lmdata.eval_windows(documents(seed, HIDDEN_DOCS), seed + 1)
    contexts_dir = ctx.input_dir("contexts")
    np.save(contexts_dir / "contexts.npy", contexts)
    run = ctx.run(
        "rm -rf data out && python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy",
        inputs={"model": model_dir, "contexts": contexts_dir}, timeout_sec=PREDICT_TIMEOUT_SEC, pin=True,
    )
    if run.failure():
        return Measurement(valid=False, reason=f"prediction failed: {run.failure()}")
    probs, reason = read_probs(run.output_dir / "probs.npy", len(targets), lmdata.V)
    if probs is None:
        return Measurement(valid=False, reason=reason)
    bpc = lmdata.bits_per_char(probs, targets)
    return Measurement(
        valid=True, metric=bpc,
        details={"contexts": len(targets), "train_seconds": round(train.duration_sec, 2),
                 "predict_seconds": round(run.duration_sec, 2)},
    )
