"""Runs lm.train() (read-only). Usage: python run_train.py OUT_DIR

The scorer runs `python run_train.py /output` pinned to one core and kills it after
60 s of wall time. lm.train() gets a deadline 55 s after this script started.
"""

from __future__ import annotations

import sys
import time

START = time.time()
BUDGET_SEC = 55.0

from pathlib import Path  # noqa: E402

import lm  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/model")
    out.mkdir(parents=True, exist_ok=True)
    lm.train(out, START + BUDGET_SEC)
    print(f"training finished after {time.time() - START:.1f}s")


if __name__ == "__main__":
    main()
