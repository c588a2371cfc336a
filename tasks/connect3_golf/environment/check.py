"""Local check (read-only): train, count parameters, predict the public validation set.

Usage: python check.py
Runs run_train.py into out/, then run_predict.py on data/valid.npz boards, and
prints the parameter count (as the scorer counts it) and the accuracy: the share of
positions where your move is one of the optimal moves (gate: at least 95%).
The scorer uses hidden positions drawn the same way as data/valid.npz.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import golf_rules


def main() -> None:
    out = Path("out")
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "run_train.py", str(out)], check=True)
    print(f"training took {time.monotonic() - started:.1f}s (scorer limit: 60s)")
    with np.load("data/valid.npz", allow_pickle=False) as data:
        boards, optimal = data["boards"], data["optimal"]
    np.save(out / "boards.npy", boards)
    started = time.monotonic()
    subprocess.run([sys.executable, "run_predict.py", str(out / "params.npz"), str(out / "boards.npy"),
                    str(out / "moves.npy")], check=True)
    print(f"prediction took {time.monotonic() - started:.1f}s (scorer limit: 10s for 5,000 boards)")
    moves = np.load(out / "moves.npy", allow_pickle=False).astype(np.int64)
    with np.load(out / "params.npz", allow_pickle=False) as data:
        values = golf_rules.param_values({k: data[k] for k in data.files})
        keys = set(data.files)
    source = Path("player.py").read_text()
    for problem in golf_rules.violations(source):
        print(f"REFUSED by the rules: player.py {problem}")
    code = golf_rules.code_constants(source, keys)
    accuracy = optimal[np.arange(len(moves)), np.clip(moves, 0, 3)][(moves >= 0) & (moves <= 3)].sum() / len(moves)
    print(f"parameters: {max(1, values + code)} ({values} in params.npz + {code} in player.py)")
    print(f"validation accuracy: {accuracy:.4f} (gate: 0.95)")


if __name__ == "__main__":
    main()
