"""Loads params.npz and boards, calls player.predict(), saves the moves (read-only).

Usage: python run_predict.py PARAMS_NPZ BOARDS_NPY OUT_NPY
The scorer runs it without train.py and without data/ in the workspace:
predict() sees only params and the boards.
"""

from __future__ import annotations

import sys

import numpy as np

import player


def main() -> None:
    params_path, boards_path, out_path = sys.argv[1:4]
    with np.load(params_path, allow_pickle=False) as data:
        params = {key: data[key] for key in data.files}
    boards = np.load(boards_path, allow_pickle=False)
    moves = np.asarray(player.predict(params, boards.copy()))
    np.save(out_path, moves)


if __name__ == "__main__":
    main()
