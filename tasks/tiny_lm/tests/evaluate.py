"""Hidden evaluation for tiny_lm (runs in the trusted scorer, never in a sandbox).

1. `python run_train.py /output` pinned to one core, hard wall limit 60 s: the
   candidate's lm.train() must save its model to /output in time.
2. Hidden documents come from the hidden grammar (tiny_lm_grammar.py), drawn fresh for this
   evaluation from ctx.seed (scorer/seeds.py); ONE random position per document gives a context
   (left-padded, 128 chars) and a target. Only the contexts are mounted.
3. `python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy`
   in a fresh sandbox without data/ (60 s).
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

#: 24,000 documents: one position each has a loss sd of about 1.8 bits for the reference, so the mean's
#: sd is 0.012 bits (0.006 normalized); at 4,000 it was 0.029 bits (0.014 normalized)
HIDDEN_DOCS = 24_000
TRAIN_TIMEOUT_SEC = 60
PREDICT_TIMEOUT_SEC = 60
MAX_MODEL_BYTES = 200_000_000
MAX_MODEL_FILES = 1000
MAX_PROBS_BYTES = 50_000_000
#: hidden seeds are this plus a 64-bit draw: never one of the grammar's public seeds (small ints)
_HIDDEN_SEED_BASE = 1 << 64

TRAINING_FAILED = "training failed"
PREDICTION_FAILED = "prediction failed"
MODEL_LINK = "the model directory holds a symbolic link (only regular files are allowed)"
MODEL_TOO_LARGE = "the saved model exceeds 200000000 bytes or 1000 files"
MODEL_NOT_REGULAR = "the model directory holds something that is not a regular file or directory"
MODEL_EMPTY = "training saved nothing to /output"
NO_PROBS = "run_predict.py wrote no probabilities"
BAD_SHAPE = "predict() returned an array of the wrong shape (it must be (number of contexts, V))"
NOT_FLOAT = "predict() must return floats"
NOT_FINITE = "predict() returned NaN or infinite probabilities"
NEGATIVE = "predict() returned negative probabilities"
ZERO_ROW = "predict() returned a row that sums to 0"
MEASURED = "bits per character measured on the hidden documents"

REASONS = frozenset({TRAINING_FAILED, PREDICTION_FAILED, MODEL_LINK, MODEL_TOO_LARGE, MODEL_NOT_REGULAR,
                     MODEL_EMPTY, NO_PROBS, BAD_SHAPE, NOT_FLOAT, NOT_FINITE, NEGATIVE, ZERO_ROW, MEASURED})
assert (MAX_MODEL_BYTES, MAX_MODEL_FILES) == (200_000_000, 1000), "MODEL_TOO_LARGE names these constants"


def hidden_split(seed: int, lmdata, count: int = HIDDEN_DOCS) -> tuple[np.ndarray, np.ndarray]:
    """This evaluation's (contexts, targets): `count` fresh documents and one position in each."""
    doc_seed, window_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64))
    return lmdata.eval_windows(documents(_HIDDEN_SEED_BASE + doc_seed, count), _HIDDEN_SEED_BASE + window_seed)


def copy_model(src: Path, dst: Path) -> tuple[str | None, dict]:
    """Copy regular files and directories only (never follow a link): (None or a fixed reason, details)."""
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in [*dirnames, *filenames]:
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(info.st_mode):
                return MODEL_LINK, {"path": str(rel / name)[:200]}
            if stat.S_ISREG(info.st_mode):
                files += 1
                total += info.st_size
                if total > MAX_MODEL_BYTES or files > MAX_MODEL_FILES:
                    return MODEL_TOO_LARGE, {"bytes_so_far": total, "files_so_far": files}
            elif not stat.S_ISDIR(info.st_mode):
                return MODEL_NOT_REGULAR, {"path": str(rel / name)[:200]}
        for name in filenames:
            shutil.copyfile(os.path.join(dirpath, name), dst / rel / name, follow_symlinks=False)
    if files == 0:
        return MODEL_EMPTY, {}
    return None, {"model_bytes": total, "model_files": files}


def read_probs(path: Path, n: int, v: int) -> tuple[np.ndarray | None, str, dict]:
    """(float64 probabilities, "", {}) or (None, fixed reason, details)."""
    probs, why = load_npy(path, MAX_PROBS_BYTES, missing=NO_PROBS)
    if probs is None:
        return None, why, {}
    if probs.shape != (n, v):
        return None, BAD_SHAPE, {"shape": list(probs.shape), "expected": [n, v]}
    if probs.dtype.kind != "f":
        return None, NOT_FLOAT, {"dtype": str(probs.dtype)}
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all():
        return None, NOT_FINITE, {"rows": int((~np.isfinite(probs)).any(axis=1).sum())}
    if (probs < 0).any():
        return None, NEGATIVE, {"rows": int((probs < 0).any(axis=1).sum())}
    if (probs.sum(axis=1) <= 0).any():
        return None, ZERO_ROW, {"rows": int((probs.sum(axis=1) <= 0).sum())}
    return probs, "", {}


def evaluate(ctx: EvalContext) -> Measurement:
    lmdata = load_pristine_module(ctx, "lmdata.py")
    contexts, targets = hidden_split(ctx.seed, lmdata)  # before training: nothing else runs meanwhile
    train = ctx.run("python run_train.py /output", timeout_sec=TRAIN_TIMEOUT_SEC, pin=True)
    if failure := train.failure():
        return Measurement(valid=False, reason=f"{TRAINING_FAILED}: {failure}",
                           details={"exit_code": train.exit_code, "train_seconds": round(train.duration_sec, 2)})
    model_dir = ctx.input_dir("model")
    problem, model_details = copy_model(train.output_dir, model_dir)
    if problem:
        return Measurement(valid=False, reason=problem, details=model_details)
    contexts_dir = ctx.input_dir("contexts")
    np.save(contexts_dir / "contexts.npy", contexts)
    run = ctx.run(
        "rm -rf data out && python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy",
        inputs={"model": model_dir, "contexts": contexts_dir}, timeout_sec=PREDICT_TIMEOUT_SEC, pin=True,
    )
    if failure := run.failure():
        return Measurement(valid=False, reason=f"{PREDICTION_FAILED}: {failure}",
                           details={"exit_code": run.exit_code, "predict_seconds": round(run.duration_sec, 2)})
    probs, reason, details = read_probs(run.output_dir / "probs.npy", len(targets), lmdata.V)
    if probs is None:
        return Measurement(valid=False, reason=reason, details=details)
    bpc = lmdata.bits_per_char(probs, targets)
    return Measurement(
        valid=True, metric=bpc, reason=MEASURED,
        details={"contexts": len(targets), "train_seconds": round(train.duration_sec, 2),
                 "predict_seconds": round(run.duration_sec, 2), **model_details},
    )
