"""Hidden evaluation for connect3_golf (runs in the trusted scorer, never in a sandbox).

1. `python run_train.py /output` in a sandbox (60 s): the candidate's train() -> params.npz.
2. Hidden positions for the split (random play from a seed kept here), labelled by the
   exact solver in connect3_game.py; only the boards are mounted.
3. `python run_predict.py ...` in a fresh sandbox without train.py and data/ (10 s):
   the candidate's predict(params, boards) -> moves.npy.
4. Outside: accuracy = share of boards where the move is optimal; gate >= 95%.
   metric = values in params.npz + constants in player.py (golf_rules), at least 1;
   player.py must not use what golf_rules.violations() refuses.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
from connect3_game import sample_positions

from scorer.harness import EvalContext, Measurement, load_npy, load_pristine_module

SEEDS = {"feedback": 310_007, "final": 320_011}
HIDDEN_DRAWS = 5000
TRAIN_TIMEOUT_SEC = 60
PREDICT_TIMEOUT_SEC = 10
GATE = 0.95
MAX_PARAMS_BYTES = 50_000_000
MAX_MOVES_BYTES = 1_000_000


def read_params(path: Path) -> tuple[int | None, str, set[str]]:
    """Total number of values in params.npz and its keys, or (None, reason, _)."""
    if not path.is_file() or path.is_symlink():
        return None, "run_train.py wrote no /output/params.npz", set()
    if path.stat().st_size > MAX_PARAMS_BYTES:
        return None, f"params.npz is {path.stat().st_size} bytes; at most {MAX_PARAMS_BYTES} allowed", set()
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > 4 * MAX_PARAMS_BYTES:
                return None, "params.npz unpacks to too many bytes", set()
        total = 0
        with np.load(path, allow_pickle=False) as data:
            if not data.files:
                return None, "params.npz holds no arrays", set()
            for key in data.files:
                array = data[key]
                if array.dtype.kind not in "biuf":
                    return None, f"params.npz: {key!r} has dtype {array.dtype}; only numeric arrays are allowed", set()
                total += int(array.size)
            keys = set(data.files)
    except Exception as exc:
        return None, f"params.npz is not a readable .npz of arrays: {type(exc).__name__}: {exc}"[:300], set()
    return total, "", keys


def read_moves(path: Path, n: int) -> tuple[np.ndarray | None, str]:
    moves, why = load_npy(path, MAX_MOVES_BYTES, missing="run_predict.py wrote no moves", what="predict() output")
    if moves is None:
        return None, why
    if moves.shape != (n,):
        return None, f"predict() must return shape ({n},), got {getattr(moves, 'shape', None)}"
    if moves.dtype.kind not in "iu":
        return None, f"predict() must return integer columns, got dtype {moves.dtype}"
    moves = moves.astype(np.int64)
    if moves.min() < 0 or moves.max() > 3:
        return None, "predict() returned a column outside 0-3"
    return moves, ""


def evaluate(ctx: EvalContext) -> Measurement:
    train = ctx.run("python run_train.py /output", timeout_sec=TRAIN_TIMEOUT_SEC)
    if train.failure():
        return Measurement(valid=False, reason=f"training failed: {train.failure()}")
    values, reason, keys = read_params(train.output_dir / "params.npz")
    if values is None:
        return Measurement(valid=False, reason=reason)
    rules = load_pristine_module(ctx, "golf_rules.py")
    source = (ctx.candidate_dir / "player.py").read_text(errors="replace")
    try:
        refused = rules.violations(source)
        code = rules.code_constants(source, keys)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return Measurement(valid=False, reason=f"player.py does not parse: {exc}"[:300])
    if refused:
        reason = "player.py breaks the rules (golf_rules.py): " + "; ".join(refused)
        return Measurement(valid=False, reason=reason[:400])
    params_dir = ctx.input_dir("params")
    shutil.copyfile(train.output_dir / "params.npz", params_dir / "params.npz")
    boards, _values, optimal = sample_positions(SEEDS[ctx.split], HIDDEN_DRAWS)
    boards_dir = ctx.input_dir("boards")
    np.save(boards_dir / "boards.npy", boards)
    run = ctx.run(
        "rm -rf train.py data out && "
        "python run_predict.py /inputs/params/params.npz /inputs/boards/boards.npy /output/moves.npy",
        inputs={"params": params_dir, "boards": boards_dir}, timeout_sec=PREDICT_TIMEOUT_SEC,
    )
    if run.failure():
        return Measurement(valid=False, reason=f"prediction failed: {run.failure()}")
    moves, reason = read_moves(run.output_dir / "moves.npy", len(boards))
    if moves is None:
        return Measurement(valid=False, reason=reason)
    accuracy = float(optimal[np.arange(len(moves)), moves].mean())
    parameters = max(1, values + code)
    details = {"accuracy": round(accuracy, 4), "params_npz_values": values, "code_constants": code,
               "positions": len(boards), "train_seconds": round(train.duration_sec, 2),
               "predict_seconds": round(run.duration_sec, 2)}
    if accuracy < GATE:
        return Measurement(valid=False, reason=f"accuracy {accuracy:.4f} is below the {GATE:.0%} gate",
                           details=details)
    return Measurement(valid=True, metric=float(parameters), details=details)
