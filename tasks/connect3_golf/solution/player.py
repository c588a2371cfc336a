"""Reference player: one shared linear scorer per column over tactical features.

For each legal column the features look at most one move ahead for each side:
win now, block the opponent's win, give the opponent a win on top, threats after
the move (a double threat; an opponent win left open), our own win on top,
centrality and height. The score is features @ w (8 weights, shared by all
columns); the move is the best-scoring legal column.
"""

from __future__ import annotations

import numpy as np

R = C = 4
CELLS = R * C


def _lines() -> np.ndarray:
    out = []
    for r in range(R):
        for c in range(C):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(3)]
                if all(0 <= a < R and 0 <= b < C for a, b in cells):
                    out.append(sum(1 << (a * C + b) for a, b in cells))
    return np.array(out, dtype=np.int64)


LINES = _lines()
WEIGHTS = (1 << np.arange(CELLS, dtype=np.int64)).reshape(R, C)
COLS = np.arange(C)


def won(stones: np.ndarray) -> np.ndarray:
    return ((stones[..., None] & LINES) == LINES).any(axis=-1)


def cell_bits(heights: np.ndarray) -> np.ndarray:
    """The bit of the cell a stone would land on in each column (0 where the column is full)."""
    return np.where(heights < R, np.int64(1) << (np.minimum(heights, R - 1) * C + COLS), 0)


def features(boards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    me = ((boards == 1) * WEIGHTS).sum(axis=(1, 2))
    op = ((boards == 2) * WEIGHTS).sum(axis=(1, 2))
    heights = (boards != 0).sum(axis=1)
    legal = heights < R
    cell = cell_bits(heights)
    above = cell_bits(heights + 1)
    mine = me[:, None] | cell
    win_now = won(mine)
    block = won(op[:, None] | cell)
    give_top = (above > 0) & won(op[:, None] | above)
    my_top = (above > 0) & won(mine | above)
    # after our move in column c, the playable cells of every column d
    after = cell_bits(heights[:, None, :] + np.eye(C, dtype=np.int64)[None])
    my_threats = ((after > 0) & won(mine[:, :, None] | after)).sum(axis=-1)
    op_threats = ((after > 0) & won(op[:, None, None] | after)).sum(axis=-1)
    center = np.broadcast_to((COLS == 1) | (COLS == 2), heights.shape)
    feats = np.stack([win_now, block, give_top, my_threats >= 2, op_threats >= 1, center, my_top, heights], axis=-1)
    return feats.astype(np.float64), legal


def predict(params: dict, boards: np.ndarray) -> np.ndarray:
    feats, legal = features(np.asarray(boards))
    scores = np.where(legal, feats @ params["w"], -np.inf)
    return scores.argmax(axis=1)
