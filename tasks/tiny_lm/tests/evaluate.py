"""Hidden evaluation for tiny_lm (runs in the trusted scorer, never in a sandbox).

1. `python run_train.py /output` pinned to one core, hard wall limit 60 s: the
   candidate's lm.train() must save its model to /output in time.
2. Hidden documents come from the hidden grammar (tiny_lm_grammar.py), drawn fresh for this
   evaluation from ctx.seed (scorer/seeds.py); ONE random position per document gives a context
   (left-padded, 128 chars) and a target. Only the contexts are mounted.
3. `python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy`
   in a fresh sandbox without data/ (60 s).
4. Outside: probabilities are checked (finite, >= 0, right shape: the task's rules module
   environment/probs_rules.py, the pristine copy of what check.py imports), each row renormalized
   and mixed with 1e-6 uniform; metric = mean -log2 p(target).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
from tiny_lm_grammar import documents

from scorer.harness import EvalContext, Invalid, Measurement, load_npy, load_rules_module

rules = load_rules_module(__file__, "probs_rules.py")
lmdata = load_rules_module(__file__, "lmdata.py")

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
MEASURED = "bits per character measured on the hidden documents"

REASONS = rules.REASONS | {TRAINING_FAILED, PREDICTION_FAILED, MODEL_LINK, MODEL_TOO_LARGE, MODEL_NOT_REGULAR,
                           MODEL_EMPTY, NO_PROBS, MEASURED}
assert (MAX_MODEL_BYTES, MAX_MODEL_FILES) == (200_000_000, 1000), "MODEL_TOO_LARGE names these constants"


def hidden_split(seed: int, lmdata, count: int = HIDDEN_DOCS) -> tuple[np.ndarray, np.ndarray]:
    """This evaluation's (contexts, targets): `count` fresh documents and one position in each."""
    doc_seed, window_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64))
    return lmdata.eval_windows(documents(_HIDDEN_SEED_BASE + doc_seed, count), _HIDDEN_SEED_BASE + window_seed)


def copy_model(src: Path, dst: Path) -> dict:
    """Copy regular files and directories only (never follow a link): the model's size as details;
    raises Invalid (a fixed reason, the offending path or count in its details)."""
    total = files = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in [*dirnames, *filenames]:
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(info.st_mode):
                raise Invalid(MODEL_LINK, path=str(rel / name)[:200])
            if stat.S_ISREG(info.st_mode):
                files += 1
                total += info.st_size
                if total > MAX_MODEL_BYTES or files > MAX_MODEL_FILES:
                    raise Invalid(MODEL_TOO_LARGE, bytes_so_far=total, files_so_far=files)
            elif not stat.S_ISDIR(info.st_mode):
                raise Invalid(MODEL_NOT_REGULAR, path=str(rel / name)[:200])
        for name in filenames:
            shutil.copyfile(os.path.join(dirpath, name), dst / rel / name, follow_symlinks=False)
    if files == 0:
        raise Invalid(MODEL_EMPTY)
    return {"model_bytes": total, "model_files": files}


def read_probs(path: Path, n: int, v: int) -> np.ndarray:
    """The float64 probabilities; raises Invalid (a fixed reason, the values behind it in its details)."""
    probs, why = load_npy(path, MAX_PROBS_BYTES, missing=NO_PROBS)
    if probs is None:
        raise Invalid(why)
    try:
        return rules.check_probs(probs, n, v)
    except rules.RuleError as error:
        raise Invalid.from_rule(error) from None


def evaluate(ctx: EvalContext) -> Measurement:
    contexts, targets = hidden_split(ctx.seed, lmdata)  # before training: nothing else runs meanwhile
    train = ctx.run("python run_train.py /output", timeout_sec=TRAIN_TIMEOUT_SEC, pin=True)
    if failure := train.failure():
        raise Invalid(f"{TRAINING_FAILED}: {failure}", exit_code=train.exit_code,
                      train_seconds=round(train.duration_sec, 2))
    model_dir = ctx.input_dir("model")
    model_details = copy_model(train.output_dir, model_dir)
    contexts_dir = ctx.input_dir("contexts")
    np.save(contexts_dir / "contexts.npy", contexts)
    run = ctx.run(
        "rm -rf data out && python run_predict.py /inputs/model /inputs/contexts/contexts.npy /output/probs.npy",
        inputs={"model": model_dir, "contexts": contexts_dir}, timeout_sec=PREDICT_TIMEOUT_SEC, pin=True,
    )
    if failure := run.failure():
        raise Invalid(f"{PREDICTION_FAILED}: {failure}", exit_code=run.exit_code,
                      predict_seconds=round(run.duration_sec, 2))
    probs = read_probs(run.output_dir / "probs.npy", len(targets), lmdata.V)
    bpc = lmdata.bits_per_char(probs, targets)
    return Measurement(
        valid=True, metric=bpc, reason=MEASURED,
        details={"contexts": len(targets), "train_seconds": round(train.duration_sec, 2),
                 "predict_seconds": round(run.duration_sec, 2), **model_details},
    )
