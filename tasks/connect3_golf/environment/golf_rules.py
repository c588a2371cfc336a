"""The model format, the feature vocabulary and the count (read-only; the scorer runs its own pristine copy).

Your player is not code: it is a model file, model.npz, that train.py exports and that this module
runs. The scorer loads this module from the pristine task (never your workspace's copy), reads your
model.npz with load_model(), counts it with parameters() and plays with predict(): no code of yours
runs while positions are played, so a player cannot search the game tree or read anything but the
board. check.py calls the same functions on data/valid.npz.

model.npz, every key (no other key is accepted):

    features  (k,)     str    names from VOCABULARY, each at most once (1 <= k <= len(VOCABULARY))
    w1        (k, h)   float  optional hidden layer (w1 and b1 together, 1 <= h <= MAX_HIDDEN)
    b1        (h,)     float
    w         (m,)     float  output weights shared by the four columns, or (m, 4): one column each
                              (m = h with a hidden layer, else k)
    b         (4,)     float  optional per-column bias

For each board and each column c, x = the k named features of playing c (a vector); then
    hidden layer:  x = relu(x @ w1 + b1)
    score[c] = x @ w (or x @ w[:, c]) + b[c];   the move = the legal column with the highest score
(ties: the leftmost). Weights are read as float32 values (numeric dtypes only, finite).

parameters = the number of values in w1, b1, w and b. The feature list is the architecture and is
free (it can only pick from VOCABULARY); key names and shapes are fixed by the schema above, so
they carry nothing: a file that differs from the schema in any way is refused.

The vocabulary: "board" features describe the position (the same for every column), "move"
features the move into column c. The lookahead is at most one stone by each side: the stone you
drop, and a stone either side could drop next (a win, a block, a win handed over on top, threats
left on the board). Nothing looks deeper.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

ROWS = COLS = 4
MAX_HIDDEN = 256
MAX_MODEL_BYTES = 4_000_000
_LINE_CELLS = 3

# ---------------------------------------------------------------------------------- vocabulary

_MOVE_FEATURES = {
    "win": "the move completes three in a row (wins at once)",
    "block": "the opponent would complete three on the landing cell (the move blocks an immediate win)",
    "gives_win": "the opponent completes three on the cell just above the landing cell (the move hands it a win)",
    "wins_above": "after the move, the cell just above would complete three for you",
    "my_threats": "after the move, how many columns' playable cells would complete three for you (0-4)",
    "op_threats": "after the move, how many columns' playable cells would complete three for the opponent (0-4)",
    "double_threat": "my_threats >= 2",
    "leaves_win": "op_threats >= 1 (the opponent can win at once after the move)",
    "my_lines": "lines of three through the landing cell with no opponent stone",
    "op_lines": "lines of three through the landing cell with no stone of yours (before the move)",
    "my_twos": "lines through the landing cell with exactly one other stone of yours and no opponent stone",
    "op_twos": "lines through the landing cell with exactly one opponent stone and none of yours",
    "height": "the landing row (0 = bottom)",
    "center": "the move is in column 1 or 2",
    **{f"col_{c}": f"the move is in column {c}" for c in range(COLS)},
}
_BOARD_FEATURES = {
    "stones": "stones on the board",
    **{f"me_{r}{c}": f"your stone at row {r}, column {c}" for r in range(ROWS) for c in range(COLS)},
    **{f"op_{r}{c}": f"an opponent stone at row {r}, column {c}" for r in range(ROWS) for c in range(COLS)},
}
#: name -> what it measures (move features first, then board features)
VOCABULARY: dict[str, str] = {**_MOVE_FEATURES, **_BOARD_FEATURES}
NAMES: tuple[str, ...] = tuple(VOCABULARY)
BOARD_FEATURES = frozenset(_BOARD_FEATURES)


def _lines() -> np.ndarray:
    out = []
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(_LINE_CELLS)]
                if all(0 <= a < ROWS and 0 <= b < COLS for a, b in cells):
                    out.append(sum(1 << (a * COLS + b) for a, b in cells))
    return np.array(out, dtype=np.int64)


LINES = _lines()
_CELL_WEIGHTS = (np.int64(1) << np.arange(ROWS * COLS, dtype=np.int64)).reshape(ROWS, COLS)
_COLUMNS = np.arange(COLS)


def _won(stones: np.ndarray) -> np.ndarray:
    return ((stones[..., None] & LINES) == LINES).any(axis=-1)


def _cell(heights: np.ndarray) -> np.ndarray:
    """The bit of the cell a stone would land on in each column (0 where the column is full)."""
    return np.where(heights < ROWS, np.int64(1) << (np.minimum(heights, ROWS - 1) * COLS + _COLUMNS), 0)


def _popcount(x: np.ndarray) -> np.ndarray:
    count = np.zeros(x.shape, dtype=np.int64)
    for bit in range(ROWS * COLS):
        count += (x >> bit) & 1
    return count


def check_boards(boards: np.ndarray) -> np.ndarray:
    boards = np.asarray(boards)
    if boards.ndim != 3 or boards.shape[1:] != (ROWS, COLS):
        raise ValueError("boards must have shape (n, 4, 4)")
    return boards.astype(np.int8)


def feature_table(boards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every feature of VOCABULARY for every board and column: (n, 4, len(NAMES)) float64, and the
    legal columns (n, 4) bool."""
    boards = check_boards(boards)
    n = len(boards)
    me = ((boards == 1) * _CELL_WEIGHTS).sum(axis=(1, 2))
    op = ((boards == 2) * _CELL_WEIGHTS).sum(axis=(1, 2))
    heights = (boards != 0).sum(axis=1)
    legal = heights < ROWS
    cell = _cell(heights)
    above = _cell(heights + 1)
    mine = me[:, None] | cell
    after = _cell(heights[:, None, :] + np.eye(COLS, dtype=np.int64)[None])  # (n, move, column)
    my_threats = ((after > 0) & _won(mine[:, :, None] | after)).sum(axis=-1)
    op_threats = ((after > 0) & _won(op[:, None, None] | after)).sum(axis=-1)
    through = (cell[..., None] & LINES) != 0  # (n, 4, lines): lines through the landing cell
    mine_in = _popcount(me[:, None, None] & LINES)
    ops_in = _popcount(op[:, None, None] & LINES)
    move = {
        "win": _won(mine),
        "block": _won(op[:, None] | cell),
        "gives_win": (above > 0) & _won(op[:, None] | above),
        "wins_above": (above > 0) & _won(mine | above),
        "my_threats": my_threats,
        "op_threats": op_threats,
        "double_threat": my_threats >= 2,
        "leaves_win": op_threats >= 1,
        "my_lines": (through & (ops_in == 0)).sum(axis=-1),
        "op_lines": (through & (mine_in == 0)).sum(axis=-1),
        "my_twos": (through & (mine_in == 1) & (ops_in == 0)).sum(axis=-1),
        "op_twos": (through & (ops_in == 1) & (mine_in == 0)).sum(axis=-1),
        "height": heights,
        "center": np.broadcast_to((_COLUMNS == 1) | (_COLUMNS == 2), (n, COLS)),
        **{f"col_{c}": np.broadcast_to(_COLUMNS == c, (n, COLS)) for c in range(COLS)},
    }
    flat = boards.reshape(n, ROWS * COLS)
    board = np.concatenate([(flat != 0).sum(axis=1, keepdims=True), flat == 1, flat == 2], axis=1)
    table = np.empty((n, COLS, len(NAMES)), dtype=np.float64)
    for index, name in enumerate(_MOVE_FEATURES):
        table[:, :, index] = move[name]
    table[:, :, len(_MOVE_FEATURES):] = board[:, None, :]
    table[~legal] = 0.0
    return table, legal


def features(boards: np.ndarray, names) -> tuple[np.ndarray, np.ndarray]:
    """The named features (n, 4, k) float64 and the legal columns (n, 4)."""
    table, legal = feature_table(boards)
    return table[:, :, [NAMES.index(name) for name in names]], legal


# ---------------------------------------------------------------------------------- the model

#: why a model file is refused: fixed phrases (the scorer shows them as they are)
NOT_WRITTEN = "train.py wrote no model.npz"
UNREADABLE = "model.npz is not a readable .npz of arrays"
TOO_LARGE = "model.npz is larger than this task allows"
BAD_KEYS = "model.npz must hold exactly the keys of the model schema (golf_rules.py)"
BAD_FEATURES = "features must be distinct names from the vocabulary (golf_rules.py)"
BAD_SHAPE = "an array of model.npz does not have the shape the schema gives it (golf_rules.py)"
BAD_DTYPE = "weights must be arrays of a numeric dtype"
NOT_FINITE = "weights must be finite float32 values"
PROBLEMS = frozenset({NOT_WRITTEN, UNREADABLE, TOO_LARGE, BAD_KEYS, BAD_FEATURES, BAD_SHAPE, BAD_DTYPE, NOT_FINITE})
SCHEMAS = (frozenset({"features", "w"}), frozenset({"features", "w", "b"}),
           frozenset({"features", "w1", "b1", "w"}), frozenset({"features", "w1", "b1", "w", "b"}))
WEIGHT_KEYS = ("w1", "b1", "w", "b")
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class ModelError(ValueError):
    """A model that breaks the schema; str(error) is one of PROBLEMS."""


class Model:
    """A validated model: the feature names and the weight arrays (float64 holding float32 values)."""

    def __init__(self, features: tuple[str, ...], w: np.ndarray, w1: np.ndarray | None = None,
                 b1: np.ndarray | None = None, b: np.ndarray | None = None) -> None:
        self.features, self.w, self.w1, self.b1, self.b = features, w, w1, b1, b

    def weights(self) -> dict[str, np.ndarray]:
        return {key: value for key in WEIGHT_KEYS if (value := getattr(self, key)) is not None}


def _weight(value, shapes: list[tuple[int, ...]]) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
        raise ModelError(BAD_DTYPE)
    if array.shape not in shapes:
        raise ModelError(BAD_SHAPE)
    with np.errstate(over="ignore", invalid="ignore"):
        single = array.astype(np.float32)
    if not np.isfinite(single).all():
        raise ModelError(NOT_FINITE)
    return single.astype(np.float64)


def make_model(arrays: dict) -> Model:
    """Validate a dict (what train() returns, or what model.npz holds) against the schema."""
    if not isinstance(arrays, dict) or frozenset(arrays) not in SCHEMAS:
        raise ModelError(BAD_KEYS)
    names = np.asarray(arrays["features"])
    if names.ndim != 1 or names.dtype.kind != "U" or not 1 <= len(names) <= len(NAMES):
        raise ModelError(BAD_FEATURES)
    chosen = tuple(str(name) for name in names)
    if len(set(chosen)) != len(chosen) or not set(chosen) <= set(NAMES):
        raise ModelError(BAD_FEATURES)
    k = len(chosen)
    w1 = b1 = b = None
    m = k
    if "w1" in arrays:
        shape = np.shape(arrays["w1"])
        h = shape[1] if len(shape) == 2 else 0
        if not 1 <= h <= MAX_HIDDEN:
            raise ModelError(BAD_SHAPE)
        w1 = _weight(arrays["w1"], [(k, h)])
        b1 = _weight(arrays["b1"], [(h,)])
        m = h
    w = _weight(arrays["w"], [(m,), (m, COLS)])
    if "b" in arrays:
        b = _weight(arrays["b"], [(COLS,)])
    return Model(features=chosen, w=w, w1=w1, b1=b1, b=b)


def load_model(path: Path | str) -> Model:
    """Read and validate model.npz (raises ModelError with a fixed phrase). Only .npy members named
    by the schema, no pickles, no links."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ModelError(NOT_WRITTEN)
    if path.is_symlink() or not path.is_file():
        raise ModelError(UNREADABLE)
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelError(TOO_LARGE)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if sum(info.file_size for info in infos) > 4 * MAX_MODEL_BYTES:
                raise ModelError(TOO_LARGE)
            if len(set(names)) != len(names) or not all(name.endswith(".npy") for name in names):
                raise ModelError(BAD_KEYS)
            keys = {name[: -len(".npy")] for name in names}
            if frozenset(keys) not in SCHEMAS:
                raise ModelError(BAD_KEYS)
            for name in names:  # read each header first: no object arrays, no shape that would not fit
                with archive.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in _HEADER_READERS:
                        raise ModelError(UNREADABLE)
                    shape, _fortran, dtype = _HEADER_READERS[version](member)
                if dtype.hasobject:
                    raise ModelError(UNREADABLE)
                if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > 4 * MAX_MODEL_BYTES:
                    raise ModelError(TOO_LARGE)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in keys}
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(UNREADABLE) from exc
    return make_model(arrays)


def save_model(path: Path | str, arrays: dict) -> Model:
    """Validate what train() returned and write it as model.npz (features as a str array)."""
    if isinstance(arrays, dict) and isinstance(arrays.get("features"), list | tuple):
        arrays = {**arrays, "features": np.array([str(name) for name in arrays["features"]])}
    model = make_model(arrays)
    out = {"features": np.array(model.features), **{k: v.astype(np.float32) for k, v in model.weights().items()}}
    np.savez(path, **out)
    return model


def parameters(model: Model) -> int:
    """The metric: every value of every weight array (at least 1, since w is never empty)."""
    return int(sum(value.size for value in model.weights().values()))


def scores(model: Model, boards: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(n, 4) scores, -inf where the column is full."""
    boards = check_boards(boards)
    out = np.empty((len(boards), COLS), dtype=np.float64)
    for start in range(0, len(boards), chunk):
        x, legal = features(boards[start:start + chunk], model.features)
        if model.w1 is not None:
            x = np.maximum(x @ model.w1 + model.b1, 0.0)
        s = x @ model.w if model.w.ndim == 1 else np.einsum("ncm,mc->nc", x, model.w)
        if model.b is not None:
            s = s + model.b
        out[start:start + chunk] = np.where(legal, s, -np.inf)
    return out


def predict(model: Model, boards: np.ndarray) -> np.ndarray:
    """The move (column 0-3) the model plays on each board: the best-scoring legal column."""
    return scores(model, boards).argmax(axis=1)


def accuracy(moves: np.ndarray, optimal: np.ndarray) -> float:
    """Share of positions where the move is optimal."""
    return float(optimal[np.arange(len(moves)), moves].mean())
