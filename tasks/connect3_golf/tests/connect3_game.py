"""4x4 gravity Connect-3: exact solver and position sampler (scorer side).

Boards are (4, 4) int8 arrays, row 0 at the bottom: 0 empty, 1 the player to move,
2 the opponent. A move is a column 0-3; a stone drops to the lowest empty cell.
Three in a row (horizontal, vertical or diagonal) wins; a full board is a draw.
Labels are game-theoretic (win/draw/loss with perfect play); a move is optimal
when it keeps the best outcome available. `python connect3_game.py` rebuilds the public
data in ../environment/data/.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

ROWS = COLS = 4
FULL = (1 << (ROWS * COLS)) - 1
PUBLIC_SEEDS = {"train": 1, "valid": 2}
PUBLIC_DRAWS = {"train": 20_000, "valid": 5_000}
MIN_PLIES, MAX_PLIES = 2, 12


def _bit(r: int, c: int) -> int:
    return 1 << (r * COLS + c)


LINES = [
    sum(_bit(r + k * dr, c + k * dc) for k in range(3))
    for r in range(ROWS)
    for c in range(COLS)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1))
    if all(0 <= r + k * dr < ROWS and 0 <= c + k * dc < COLS for k in range(3))
]
_COLUMN = [sum(_bit(r, c) for r in range(ROWS)) for c in range(COLS)]


def won(stones: int) -> bool:
    return any(stones & line == line for line in LINES)


def height(occ: int, c: int) -> int:
    return (occ & _COLUMN[c]).bit_count()


class Solver:
    """Negamax over the whole game (about 24,000 positions, well under a second)."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, int], int] = {}

    def value(self, me: int, op: int) -> int:
        """+1 the player to move wins, 0 draw, -1 loses (both sides perfect)."""
        key = (me, op)
        found = self.memo.get(key)
        if found is not None:
            return found
        occ = me | op
        if occ == FULL:
            result = 0
        else:
            result = -1
            for c in range(COLS):
                h = height(occ, c)
                if h == ROWS:
                    continue
                mine = me | _bit(h, c)
                v = 1 if won(mine) else -self.value(op, mine)
                if v > result:
                    result = v
                    if v == 1:
                        break
        self.memo[key] = result
        return result

    def move_values(self, me: int, op: int) -> list[int | None]:
        """Outcome after each column for the player to move; None where the column is full."""
        occ = me | op
        out: list[int | None] = []
        for c in range(COLS):
            h = height(occ, c)
            if h == ROWS:
                out.append(None)
                continue
            mine = me | _bit(h, c)
            out.append(1 if won(mine) else -self.value(op, mine))
        return out


def to_array(me: int, op: int) -> np.ndarray:
    board = np.zeros((ROWS, COLS), dtype=np.int8)
    for r in range(ROWS):
        for c in range(COLS):
            if me & _bit(r, c):
                board[r, c] = 1
            elif op & _bit(r, c):
                board[r, c] = 2
    return board


def sample_positions(seed: int, draws: int, solver: Solver | None = None):
    """Positions from random play (uniform legal moves, 2-12 plies), with repeats.

    Kept: positions where nobody has won, the board is not full and the choice of
    move matters (not every legal move leads to the same outcome). Returns
    boards (n,4,4) int8, values (n,4) int8 (+1/0/-1 per move, -2 = column full) and
    optimal (n,4) bool.
    """
    solver = solver or Solver()
    rng = random.Random(seed)
    boards, values = [], []
    while len(boards) < draws:
        me = op = 0
        ok = True
        for _ in range(rng.randint(MIN_PLIES, MAX_PLIES)):
            occ = me | op
            c = rng.choice([c for c in range(COLS) if height(occ, c) < ROWS])
            mine = me | _bit(height(occ, c), c)
            if won(mine) or (mine | op) == FULL:
                ok = False
                break
            me, op = op, mine
        if not ok:
            continue
        vals = solver.move_values(me, op)
        legal = [v for v in vals if v is not None]
        if len(set(legal)) == 1:
            continue
        boards.append(to_array(me, op))
        values.append([-2 if v is None else v for v in vals])
    values_arr = np.array(values, dtype=np.int8)
    best = values_arr.max(axis=1, keepdims=True)
    return np.array(boards, dtype=np.int8), values_arr, values_arr == best


def write_public(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    solver = Solver()
    for name, seed in PUBLIC_SEEDS.items():
        boards, values, optimal = sample_positions(seed, PUBLIC_DRAWS[name], solver)
        np.savez_compressed(data_dir / f"{name}.npz", boards=boards, values=values, optimal=optimal)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "environment" / "data"
    write_public(out)
    print(f"wrote {out}")
